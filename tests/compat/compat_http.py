"""The HTTP API: every route and body form of the original, sent to the original forsund and
to ours, answers the same envelope (after normalising times and messages).

Both servers get the same requests in the same order, so they hold the same keys.
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from compat_clients import same_up_to_the_second
from differences import kept
from original import Server

JSON = "application/json"
CRONTAB = "application/crontab"


def call(server: Server, method: str, path: str, body: Any = None,
         content_type: str = JSON) -> tuple[int, Any]:
    """``(HTTP status, decoded JSON or the text of a body that is not JSON)``."""
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.http_port}{path}", data=data,
                                     method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def normalised(envelope: Any) -> Any:
    """An envelope with times that must differ removed: created_time (the servers created
    plans at different moments) and current_timestamp; an error's message
    (``error-messages``)."""
    kept("error-messages")
    if not isinstance(envelope, dict):
        return envelope
    envelope = dict(envelope)
    if envelope.get("errcode"):
        envelope["errmsg"] = "<MESSAGE>"
    return json.loads(json.dumps(envelope), object_hook=_without_times)


def _without_times(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items()
            if key not in ("created_time", "current_timestamp")}


def same(pair: tuple[Server, Server], method: str, path: str, body: Any = None,
         content_type: str = JSON) -> Any:
    """Send one request to both servers; assert the answers are the same; return ours."""
    original, ours = pair
    first = call(original, method, path, body, content_type)
    second = call(ours, method, path, body, content_type)
    assert second[0] == first[0], (first, second)
    same_up_to_the_second(normalised(first[1]), normalised(second[1]), f"{method} {path}")
    return second[1]


PLAN = {"action": "shell", "params": {"cmd": "true"}}

#: ``(method, path, body)`` in the order they are sent; each answer must be the same.
REQUESTS = [
    ("GET", "/v1/ping", None),
    ("PUT", "/v1/plan", {"key": "h:delay", "seconds": 3600, "count": 1, **PLAN}),
    ("PUT", "/v1/plan", {"key": "h:forever", "seconds": 3600, "minute": 2, **PLAN}),
    ("POST", "/v1/plan", {"key": "h:fixed", "seconds": 0, "minute": 30, "hour": 10, **PLAN}),
    ("POST", "/v1/plan", {"key": "h:weekday", "seconds": 5, "minute": 4, "hour": 3,
                          "action": "http", "params": {"url": "http://127.0.0.1:9/",
                                                       "method": "POST"}}),
    ("PUT", "/v1/plan", {"key": "h:gone", "seconds": 3600, "count": 1, **PLAN}),
    ("GET", "/v1/plan?key=h:delay", None),
    ("GET", "/v1/plan?key=h:none", None),
    ("DELETE", "/v1/plan?key=h:gone", None),
    ("DELETE", "/v1/plan?key=h:gone", None),
    ("PUT", "/v1/plan", {"key": "h:bad", "seconds": 60, "action": "nosuch", "params": {}}),
    ("GET", "/v1/time", None),
    ("GET", "/v1/time?timestamp=0", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS,
                         ids=[f"{method} {path} {(body or {}).get('key', '')}"
                              for method, path, body in REQUESTS])
def test_route(pair, method, path, body):
    same(pair, method, path, body)


def test_keys(pair):
    kept("key-order")
    original, ours = pair
    for path in ("/v1/keys?prefix=h:", "/v1/keys"):
        first, second = call(original, "GET", path), call(ours, "GET", path)
        assert sorted(second[1]["data"]) == sorted(first[1]["data"]), path
        assert "h:delay" in second[1]["data"]


def test_time_of_a_second_lists_its_plans(pair):
    due = call(pair[1], "GET", "/v1/plan?key=h:fixed")[1]["data"]["next_time"]
    answer = same(pair, "GET", f"/v1/time?timestamp={due}")
    assert [plan["key"] for plan in answer["data"]["plans"]] == ["h:fixed"]


def test_info_has_the_original_keys(pair):
    kept("info-values")
    original, ours = pair
    first, second = call(original, "GET", "/v1/info"), call(ours, "GET", "/v1/info")
    assert set(first[1]["data"]) <= set(second[1]["data"])
    assert second[1]["data"]["http_bind_port"] == f"127.0.0.1:{ours.http_port}"


def test_crontab_body_of_fixed_plans(pair):
    body = "h:cron1 0 0 12 * * * shell 'cmd=ls'\nh:cron2 5 * * * * * shell 'cmd=true'"
    answer = same(pair, "POST", "/v1/plan", body, CRONTAB)
    assert [plan["key"] for plan in answer["data"]] == ["h:cron1", "h:cron2"]


def test_crontab_body_of_a_delay_plan(pair):
    same(pair, "POST", "/v1/plan", "h:cron3 */3600 * * * * * shell 'cmd=true'\n"
                                   "h:cron4 */60/2 * * * * * shell 'cmd=true'", CRONTAB)


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_json_array_with_a_method_per_item(pair, method):
    same(pair, method, "/v1/plan", [
        {"key": f"h:{method}:a", "seconds": 3600, "count": 1, **PLAN},
        {"key": f"h:{method}:b", "method": "create", "seconds": 5, "minute": 3, **PLAN},
        {"key": f"h:{method}:c", "method": "createTimeout", "seconds": 60, "count": 2, **PLAN}])


def test_json_array_of_one_plan(pair):
    same(pair, "PUT", "/v1/plan", [{"key": "h:one", "seconds": 3600, "count": 1, **PLAN}])


def test_crontab_body_of_one_plan(pair):
    answer = same(pair, "PUT", "/v1/plan", "h:cron5 */3600 * * * * * shell 'cmd=true'", CRONTAB)
    assert answer["data"]["key"] == "h:cron5"


def test_keys_star(pair):
    original, ours = pair
    first, second = call(original, "GET", "/v1/keys?prefix=*"), call(ours, "GET",
                                                                        "/v1/keys?prefix=*")
    assert sorted(second[1]["data"]) == sorted(first[1]["data"])


def test_a_timestamp_that_is_not_a_number(pair):
    same(pair, "GET", "/v1/time?timestamp=soon")


# -- kept differences, each shown -------------------------------------------------------------


def test_missing_key(pair):
    kept("http-missing-key")
    original, ours = pair
    assert call(original, "GET", "/v1/plan")[1]["errcode"] == 1001
    assert call(ours, "GET", "/v1/plan")[1]["errcode"] == 1007


def test_malformed_bodies(pair):
    kept("http-malformed-bodies")
    original, ours = pair
    status, page = call(original, "POST", "/v1/plan", "{not json")
    assert status == 400 and page.startswith("<html>")
    status, envelope = call(ours, "POST", "/v1/plan", "{not json")
    assert envelope["errcode"] == 1004
    body = {"key": "h:params", "seconds": 60, "action": "shell", "params": "cmd=true"}
    assert call(original, "PUT", "/v1/plan", body)[1]["errcode"] == 1001
    assert call(ours, "PUT", "/v1/plan", body)[1]["errcode"] == 1004


def test_an_array_is_all_or_none(pair):
    kept("http-all-or-none")
    original, ours = pair
    body = [{"key": "h:all:a", "seconds": 3600, "count": 1, **PLAN},
            {"key": "h:all:b", "seconds": 3600, "action": "nosuch", "params": {}}]
    for server in pair:
        assert call(server, "PUT", "/v1/plan", body)[1]["errcode"] == 1006, server.name
    assert call(original, "GET", "/v1/plan?key=h:all:a")[1]["errcode"] == 0
    assert call(ours, "GET", "/v1/plan?key=h:all:a")[1]["errcode"] == 1003


def test_an_unknown_method_of_an_array_item(pair):
    kept("http-malformed-bodies")
    original, ours = pair
    body = [{"key": "h:meth", "method": "remove", "seconds": 5, "minute": 3, **PLAN}]
    assert call(original, "PUT", "/v1/plan", body)[1]["data"]["is_time_out"] is False
    assert call(ours, "PUT", "/v1/plan", body)[1]["errcode"] == 1004


def test_week(pair):
    """``week`` of a fixed-time plan: the original ignored it, forsun matches it."""
    kept("weekday")
    original, ours = pair
    today = datetime.datetime.now(datetime.UTC)
    week = (today + datetime.timedelta(days=3)).isoweekday() % 7  # cron's numbering
    body = {"key": "h:week", "seconds": 0, "minute": 30, "hour": 10, "week": week, **PLAN}
    first = call(original, "POST", "/v1/plan", body)[1]["data"]["next_time"]
    second = call(ours, "POST", "/v1/plan", body)[1]["data"]["next_time"]
    assert first - today.timestamp() <= 86400
    due = datetime.datetime.fromtimestamp(second, datetime.UTC)
    assert (due.isoweekday() % 7, due.hour, due.minute) == (week, 10, 30)
    assert second - today.timestamp() > 2 * 86400


def test_singular_second(pair):
    kept("http-second")
    original, ours = pair
    body = {"key": "h:second", "second": 3600, "count": 1, **PLAN}
    assert call(original, "PUT", "/v1/plan", body)[1]["data"]["second"] == -1
    assert call(ours, "PUT", "/v1/plan", body)[1]["data"]["second"] == 3600


def test_required_params(pair):
    kept("required-params")
    original, ours = pair
    body = {"key": "h:nocmd", "seconds": 3600, "count": 1, "action": "shell", "params": {}}
    assert call(original, "PUT", "/v1/plan", body)[1]["errcode"] == 0
    assert call(ours, "PUT", "/v1/plan", body)[1]["errcode"] == 1007
