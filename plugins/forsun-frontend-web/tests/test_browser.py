"""The dashboard used as a person would, in a real browser (chromium) against a real
forsund started with a token, a time zone and small retry settings. Each test saves
screenshots of the pages it visits under its tmp_path."""

from __future__ import annotations

import datetime
import json
import re
import threading
import zoneinfo
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from forsun.testing.process import ForsundProcess
from forsun.testing.receiver import HttpReceiver, Reply

TIMEZONE = "Asia/Shanghai"
#: Long enough for a firing, its retry and the next poll on a loaded machine.
SLOW = 30_000


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def server(module_forsunds, token) -> ForsundProcess:
    """One retry, 1 s after a failure: a failing firing reaches the failures list ~2 s
    after its due second."""
    return module_forsunds.start(
        "--driver-mem-store-file", "", "--token", token, "--timezone", TIMEZONE,
        "--retry-delay-seconds", "1", "--retry-delay-rate", "0", "--retry-max-count", "1")


@pytest.fixture(scope="module")
def token() -> str:
    return "browser-token"


def open_dashboard(page, server: ForsundProcess, token: str, view: str = "overview"):
    """Open the dashboard and answer its token question."""
    page.goto(f"{server.http_url}/ui/#/{view}")
    page.locator("#token-input").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect_text(page.locator("#clock"), TIMEZONE)


def expect_text(locator, text: str | re.Pattern[str], timeout: float = 15_000) -> None:
    expect(locator).to_contain_text(text, timeout=timeout)


def create(page, line: str) -> None:
    page.get_by_role("link", name="Plans", exact=True).click()
    page.locator("#create-lines").fill(line)
    page.get_by_role("button", name="Create", exact=True).click()


def test_the_dashboard_asks_for_the_token_and_sends_it(page, server, token, shot):
    page.goto(f"{server.http_url}/ui/")
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    expect_text(dialog, "--token")
    shot(page, "token")
    page.locator("#token-input").fill("wrong")
    page.get_by_role("button", name="Use token").click()
    expect_text(page.locator("#token-reason"), "refused")
    page.locator("#token-input").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(dialog).to_be_hidden()
    expect_text(page.locator("#clock"), TIMEZONE)
    expect(page.locator("#ov-nodes")).to_have_text("1")
    expect(page.locator("#ov-plans")).to_have_text(re.compile(r"^\d+$"))
    page.reload()  # the token is kept for the tab
    expect(page.locator("#ov-nodes")).to_have_text("1")
    expect(dialog).to_be_hidden()
    shot(page, "overview")


def test_a_plan_created_in_the_form_is_found_fires_and_shows_its_outcome(
        page, server, token, receiver, shot):
    open_dashboard(page, server, token)
    create(page, f"set web-ok */3/2 * * * * * http 'url={receiver.url('/ok')}'")
    expect_text(page.locator("#status"), "Created web-ok")
    expect_text(page.locator("#plan-detail h2"), "web-ok")
    page.locator("#search-prefix").fill("web-")
    page.get_by_role("button", name="Search").click()
    page.locator("#plan-list").get_by_role("link", name="web-ok").click()
    detail = page.locator("#plan-detail")
    expect_text(detail, "delay (createTimeout)")
    expect_text(detail, "0 of 2")
    expect(detail.locator("tr.ok")).to_have_count(1, timeout=SLOW)
    assert [request.key for request in receiver.wait(path="/ok")] == ["web-ok"]
    shot(page, "plans")


def test_fire_now_and_delete_from_the_plan_page(page, server, token, receiver, shot):
    open_dashboard(page, server, token)
    create(page, f"set web-later 0 0 0 1 13 * http 'url={receiver.url('/later')}'")
    page.wait_for_timeout(3000)  # the error stays while the page updates itself
    expect_text(page.locator("#status.error"), "month")  # the service's message
    create(page, f"set web-later 0 0 0 1 * * http 'url={receiver.url('/later')}'")
    detail = page.locator("#plan-detail")
    expect_text(detail, "fixed time (create)")
    # The first of each month in the server's time zone, whatever the browser's (a fully
    # fixed date would fire once, this year, as in the original: not a schedule to show)
    now = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE))
    first, fifth = (divmod(now.month - 1 + ahead, 12) for ahead in (1, 5))
    expect(detail.locator("ol.next li")).to_have_count(5)
    expect_text(detail.locator("ol.next li").first,
                f"{now.year + first[0]}-{first[1] + 1:02}-01 00:00:00")
    expect_text(detail.locator("ol.next li").nth(4),
                f"{now.year + fifth[0]}-{fifth[1] + 1:02}-01 00:00:00")
    page.get_by_role("button", name="Fire now").click()
    expect(detail.locator("tr.ok")).to_have_count(1, timeout=SLOW)
    receiver.wait(path="/later")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect_text(detail, "Not stored")
    expect(page.locator("#plan-list").get_by_role("link", name="web-later")).to_have_count(0)


def test_a_failing_plan_reaches_failures_and_a_retry_from_there_succeeds(
        page, server, token, receiver, shot):
    healthy = threading.Event()
    receiver.answer("/flaky", lambda request: Reply(200 if healthy.is_set() else 503))
    open_dashboard(page, server, token)
    create(page, f"set web-flaky */1/1 * * * * * http 'url={receiver.url('/flaky')}'")
    detail = page.locator("#plan-detail")
    expect(detail.locator("tr.failed")).to_have_count(2, timeout=SLOW)  # first try, retry
    page.get_by_role("link", name="Failures", exact=True).click()
    row = page.locator("#failure-list tr", has_text="web-flaky")
    expect(row).to_have_count(1, timeout=SLOW)
    expect_text(row, "503")
    shot(page, "failures")
    healthy.set()
    row.get_by_role("button", name="Retry").click()
    expect_text(page.locator("#status"), "Retried 1")
    expect(row).to_have_count(0, timeout=SLOW)
    page.goto(f"{server.http_url}/ui/#/plans?key=web-flaky")
    expect(page.locator("#plan-detail tr.ok")).to_have_count(1, timeout=SLOW)
    assert [request.status for request in receiver.to("/flaky")] == [503, 503, 200]


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_every_page_fits_the_width(page, server, token, receiver, shot, fetch, width,
                                   height):
    """Each page renders without a script error and without sideways scrolling of the
    page itself (wide tables scroll inside their own box)."""
    created = fetch(server.http_url + "/v1/plan", method="PUT",
                    headers={"Authorization": f"Bearer {token}"},
                    data=json.dumps({"key": "web-shown", "seconds": 30, "count": 1,
                                     "action": "http", "params": {"url": receiver.url()}}
                                    ).encode())
    assert json.loads(created.body)["errcode"] == 0
    page.set_viewport_size({"width": width, "height": height})
    open_dashboard(page, server, token)
    for view, ready in (("overview", "#ov-nodes"), ("plans", "#plan-list ul, #plan-list p"),
                        ("due", "#due-list table, #due-list p.empty"),
                        ("failures", "#failure-list p.hint"),
                        ("nodes", "#node-list table")):
        page.goto(f"{server.http_url}/ui/#/{view}")
        expect(page.locator(ready).first).to_be_visible()
        if view == "overview":
            expect(page.locator("#ov-nodes")).to_have_text("1")
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{view} is {overflow}px wider than {width}px"
        shot(page, f"{view}-{width}")


def test_another_site_cannot_make_the_browser_create_a_plan(page, dashboard, receiver):
    """The classic cross-site form: a page elsewhere posts a text/plain body that reads as
    JSON to a forsund without a token. The browser sends it with its Origin; forsund
    refuses it (403) and stores nothing."""
    # name=value of a text/plain form: {"key": ..., "x": "="}
    name = '{"key":"csrf","second":0,"action":"shell","params":{"cmd":"true"},"x":"'
    form = (f'<form method="post" enctype="text/plain" action="{dashboard.http_url}/v1/plan">'
            f"<input name='{name}' value='\"}}'></form>"
            "<script>document.forms[0].submit()</script>")
    receiver.answer("/attack", Reply(200, form.encode(), {"Content-Type": "text/html"}))
    with page.expect_navigation(url=f"{dashboard.http_url}/v1/plan") as navigation:
        page.goto(receiver.url("/attack"))
    assert navigation.value.status == 403
    assert dashboard.call("GET", "/v1/plan?key=csrf")["errcode"] == 1003


def test_the_nodes_sharing_a_redis_store_and_one_that_dies(page, forsunds, redis_server,
                                                          tmp_path, shot):
    """Two forsunds on one Redis: both listed alive, each page says which one it is; a
    killed node is shown gone (or dropped) once its lease has run out."""
    server = redis_server("--appendonly", "no")
    started = []
    for node in (1, 2):
        workdir = tmp_path / f"node{node}"
        workdir.mkdir()
        started.append(forsunds.start(
            "--driver", "redis", "--driver-redis-port", str(server.port),
            "--driver-redis-prefix", "web", "--driver-redis-server-id", str(node),
            "--driver-redis-node-lease", "2", workdir=workdir))
    page.goto(f"{started[0].http_url}/ui/#/nodes")
    rows = page.locator("#node-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="alive")).to_have_count(2)
    expect(rows.filter(has_text="this")).to_have_count(1)
    shot(page, "nodes-redis")
    started[1].kill()
    expect(rows.filter(has_text="alive")).to_have_count(1, timeout=SLOW)
    expect(rows.filter(has_text="alive").filter(has_text="this")).to_have_count(1)


def test_in_another_sites_frame_the_dashboard_refuses_to_run(page, dashboard, receiver):
    receiver.answer("/frame", Reply(200, f'<iframe src="{dashboard.http_url}/ui/" width=800 '
                                         'height=600></iframe>'.encode(),
                                    {"Content-Type": "text/html"}))
    page.goto(receiver.url("/frame"))
    framed = page.frame_locator("iframe")
    expect_text(framed.locator("#framed"), "does not run inside a frame")
    assert framed.locator("nav").count() == 0


def test_failures_retried_and_discarded_in_bulk(page, server, token, receiver, shot):
    receiver.answer("/down", Reply(503))
    open_dashboard(page, server, token)
    create(page, "\n".join(f"set web-bulk{n} */1/1 * * * * * http 'url={receiver.url('/down')}'"
                           for n in (1, 2, 3)))
    expect_text(page.locator("#status"), "Created web-bulk1, web-bulk2, web-bulk3")
    page.goto(f"{server.http_url}/ui/#/failures?prefix=web-bulk")
    rows = page.locator("#failure-list tbody tr")
    expect(rows).to_have_count(3, timeout=SLOW)
    rows.filter(has_text="web-bulk1").get_by_role("checkbox").check()
    rows.filter(has_text="web-bulk2").get_by_role("checkbox").check()
    page.get_by_role("button", name="Discard selected").click()
    expect_text(page.locator("#status"), "Discarded 2")
    expect(rows).to_have_count(1)
    expect_text(rows, "web-bulk3")
    before, listed = len(receiver.to("/down")), rows.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retry all").click()
    expect_text(page.locator("#status"), "Retried 1")
    receiver.wait(before + 1, path="/down")  # fired again (and failed again)
    # back in the list once its retries failed too, failed at a later second
    expect(rows).not_to_have_text(listed, timeout=SLOW)
    expect(rows).to_have_count(1, timeout=SLOW)
    expect_text(rows, "web-bulk3")


def test_plans_are_searched_and_paged(page, server, token, shot):
    open_dashboard(page, server, token, "plans")
    create(page, "\n".join(f"set web-page{n:02} 0 0 0 1 * * shell 'true'" for n in range(60)))
    # the page shows the first new plan (a new page: what was typed before it is gone)
    expect_text(page.locator("#plan-detail h2"), "web-page00")
    page.locator("#search-prefix").fill("web-page")
    page.get_by_role("button", name="Search").click()
    expect_text(page.locator("#plan-list"), "60 plans")
    expect_text(page.locator(".pager span"), re.compile(r"^1\W50 of 60$"))
    expect(page.locator("ul.keys li")).to_have_count(50)
    page.get_by_role("button", name="Next").click()
    expect_text(page.locator(".pager span"), re.compile(r"^51\W60 of 60$"))
    expect(page.locator("ul.keys li")).to_have_count(10)
    expect(page.locator("ul.keys li").first).to_have_text("web-page50")


def test_a_search_made_while_a_create_is_out_is_kept(page, server, token):
    """The create's answer shows the new plan only if the user is still where they sent
    it from: a search made meanwhile stays on screen, its list read again."""
    open_dashboard(page, server, token, "plans")
    held = []
    page.route("**/v1/plans", lambda route: held.append(route))  # held until released below
    create(page, "set web-race1 0 0 0 1 * * shell 'true'")
    while not held:
        page.wait_for_timeout(20)
    page.locator("#search-prefix").fill("web-race")
    page.get_by_role("button", name="Search").click()
    expect_text(page.locator("#plan-list"), "No plan with this prefix.")
    held[0].continue_()
    expect_text(page.locator("#status"), "Created web-race1")
    expect_text(page.locator("#plan-list"), "1 plan")
    assert page.url.endswith("#/plans?prefix=web-race")
