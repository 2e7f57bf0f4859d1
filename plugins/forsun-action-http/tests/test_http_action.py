"""The http action against a real Tornado server (see conftest.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import pytest

import forsun
from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plugins import collect_actions, collect_options, get_plugin_manager
from forsun.testing.options import make_options
from forsun_action_http import action as action_module
from forsun_action_http.action import HttpAction


async def test_sends_key_timestamp_and_default_headers(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/ok?a=1")}, key="order-7",
                                     ts=1_700_000_123))
    [request] = http_receiver.requests
    assert (request.method, request.path, request.query) == ("GET", "/ok", "a=1")
    assert request.headers["X-Forsun-Key"] == "order-7"
    assert request.headers["X-Forsun-Timestamp"] == "1700000123"
    assert request.headers["User-Agent"] == f"forsun/{forsun.__version__}"
    assert "Content-Type" not in request.headers
    assert "Authorization" not in request.headers
    assert request.body == b""


@pytest.mark.parametrize("method", ["get", "GET", "post", "Put", "delete", "HEAD", "patch",
                                    "options"])
async def test_method_in_any_case(action, http_receiver, make_firing, method):
    await action.execute(make_firing({"url": http_receiver.url("/ok"), "method": method}))
    assert [r.method for r in http_receiver.requests] == [method.upper()]


async def test_post_body_defaults_to_form_content_type(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/ok"), "method": "post",
                                      "body": "a=1&b=caf\u00e9"}))
    [request] = http_receiver.requests
    assert request.body == "a=1&b=caf\u00e9".encode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_put_body_has_no_content_type_unless_given(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/ok"), "method": "put",
                                      "body": "raw"}))
    await action.execute(make_firing({"url": http_receiver.url("/ok"), "method": "put",
                                      "body": '{"a": 1}',
                                      "header_Content-Type": "application/json"}))
    first, second = http_receiver.requests
    assert first.body == b"raw" and "Content-Type" not in first.headers
    assert second.body == b'{"a": 1}'
    assert second.headers["Content-Type"] == "application/json"


async def test_header_params_become_headers(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/ok"),
                                      "header_X-Trace-Id": "abc", "header_Accept": "text/csv",
                                      "header_X-FORSUN-KEY": "spoofed",
                                      "header_x-forsun-timestamp": "1"}, key="real-key"))
    headers = http_receiver.requests[0].headers
    assert headers["X-Trace-Id"] == "abc"
    assert headers["Accept"] == "text/csv"
    assert headers["X-Forsun-Key"] == "real-key"  # duplicates would arrive comma-joined
    assert headers["X-Forsun-Timestamp"].isdigit() and headers["X-Forsun-Timestamp"] != "1"


async def test_user_agent_param_and_option(http_receiver, make_firing):
    action = HttpAction(make_options(action_http_user_agent="shop-timer/2"))
    try:
        await action.execute(make_firing({"url": http_receiver.url("/ok")}))
        await action.execute(make_firing({"url": http_receiver.url("/ok"),
                                          "user_agent": "per-plan/1"}))
        await action.execute(make_firing({"url": http_receiver.url("/ok"),
                                          "header_User-Agent": "header/1"}))
    finally:
        await action.close()
    agents = [r.headers["User-Agent"] for r in http_receiver.requests]
    assert agents == ["shop-timer/2", "per-plan/1", "header/1"]


async def test_basic_auth_from_params_and_url(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/ok"),
                                      "auth_username": "alice", "auth_password": "s3cret"}))
    url = http_receiver.url("/ok").replace("http://", "http://bob:pa%3Ass@")
    await action.execute(make_firing({"url": url}))
    expected = [base64.b64encode(pair.encode()).decode() for pair in ("alice:s3cret",
                                                                       "bob:pa:ss")]
    assert [r.headers["Authorization"] for r in http_receiver.requests] == [
        f"Basic {token}" for token in expected]


async def test_digest_auth(action, http_receiver, make_firing, digest_credentials):
    user, password = digest_credentials
    params = {"url": http_receiver.url("/digest"), "auth_mode": "Digest",
              "auth_username": user, "auth_password": password}
    await action.execute(make_firing(params))
    assert [r.status for r in http_receiver.requests] == [401, 200]

    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({**params, "auth_password": "wrong-password"}))
    assert not failure.value.retry
    assert "401" in str(failure.value)
    assert "wrong-password" not in str(failure.value)


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True),
                                               (404, False), (400, False), (403, False)])
async def test_error_status_retry_or_not(action, http_receiver, make_firing, status, retry):
    url = http_receiver.url(f"/status/{status}")
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"url": url}))
    assert failure.value.retry is retry
    assert f"GET {url}: HTTP {status}" in str(failure.value)
    assert f"answer {status}" in str(failure.value)


async def test_redirect_is_followed(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/redirect")}))
    assert [(r.path, r.status) for r in http_receiver.requests] == [("/redirect", 302),
                                                                     ("/ok", 200)]


async def test_large_answer_is_a_success(action, http_receiver, make_firing):
    await action.execute(make_firing({"url": http_receiver.url("/big")}))
    await action.execute(make_firing({"url": http_receiver.url("/ok")}))
    assert [r.status for r in http_receiver.requests] == [200, 200]


async def test_connection_refused_asks_for_retry(action, refused_url, make_firing):
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"url": refused_url}))
    assert failure.value.retry
    assert refused_url in str(failure.value)


async def test_request_timeout_param(action, http_receiver, make_firing):
    url = http_receiver.url("/slow?delay=5")
    started = time.monotonic()
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"url": url, "request_timeout": "0.5"}))
    assert time.monotonic() - started < 4
    assert failure.value.retry
    assert "within 0.5s" in str(failure.value) and url in str(failure.value)


async def test_request_timeout_option(http_receiver, make_firing):
    action = HttpAction(make_options(action_http_request_timeout=0.5))
    try:
        with pytest.raises(ActionError, match=r"within 0\.5s"):
            await action.execute(make_firing({"url": http_receiver.url("/slow?delay=5")}))
    finally:
        await action.close()


async def test_connect_timeout_param_and_option(stalled_url, make_firing):
    action = HttpAction(make_options(action_http_connect_timeout=0.4))
    try:
        for params, shown in [({"url": stalled_url}, "0.4s"),
                              ({"url": stalled_url, "connect_timeout": "0.3"}, "0.3s")]:
            started = time.monotonic()
            with pytest.raises(ActionError) as failure:
                await action.execute(make_firing(params))
            assert time.monotonic() - started < 3
            assert failure.value.retry
            assert f"could not connect within {shown}" in str(failure.value)
    finally:
        await action.close()


async def test_keep_alive_reuses_one_connection(action, http_receiver, make_firing):
    for index in range(5):
        await action.execute(make_firing({"url": http_receiver.url("/ok")}, key=f"k{index}"))
    assert len(http_receiver.requests) == 5
    assert http_receiver.connections == 1
    assert {r.connection for r in http_receiver.requests} == {1}


async def test_max_clients_bounds_connections(http_receiver, make_firing):
    action = HttpAction(make_options(action_http_max_clients=2))
    try:
        url = http_receiver.url("/slow?delay=0.2")
        await asyncio.gather(*(action.execute(make_firing({"url": url}, key=f"k{index}"))
                               for index in range(6)))
    finally:
        await action.close()
    assert len(http_receiver.delivered()) == 6
    assert http_receiver.connections == 2


async def test_passwords_never_in_messages_or_logs(action, http_receiver, make_firing,
                                                   refused_url, caplog):
    caplog.set_level(logging.DEBUG)
    secret_url = http_receiver.url("/status/503").replace("http://", "http://carol:url-pw@")
    failures = []
    for params in [{"url": secret_url},
                   {"url": http_receiver.url("/status/503"), "auth_username": "dave",
                    "auth_password": "param-pw"},
                   {"url": refused_url, "auth_username": "dave", "auth_password": "param-pw"},
                   {"url": http_receiver.url("/ok"), "auth_username": "dave",
                    "auth_password": "param-pw"}]:
        try:
            await action.execute(make_firing(params))
        except ActionError as exc:
            failures.append(str(exc))
    assert len(failures) == 3
    assert http_receiver.url("/status/503") in failures[0]
    text = "\n".join(failures) + caplog.text
    assert "url-pw" not in text and "param-pw" not in text
    assert "carol" not in text


async def test_close_then_reuse_creates_a_new_pool(action, http_receiver, make_firing):
    await action.close()  # before any firing: nothing to close
    await action.execute(make_firing({"url": http_receiver.url("/ok")}))
    await action.close()
    await action.execute(make_firing({"url": http_receiver.url("/ok")}))
    assert len(http_receiver.delivered()) == 2
    assert http_receiver.connections == 2


@pytest.mark.parametrize(("params", "code", "names"), [
    ({}, ErrorCode.MISSING_ARGUMENT, "params.url"),
    ({"url": ""}, ErrorCode.MISSING_ARGUMENT, "params.url"),
    ({"url": "ftp://example.com/x"}, ErrorCode.STORE_FAILED, "params.url"),
    ({"url": "/relative/path"}, ErrorCode.STORE_FAILED, "params.url"),
    ({"url": "http://h/", "method": "FETCH"}, ErrorCode.STORE_FAILED, "params.method"),
    ({"url": "http://h/", "auth_mode": "ntlm"}, ErrorCode.STORE_FAILED, "params.auth_mode"),
    ({"url": "http://h/", "connect_timeout": "soon"}, ErrorCode.STORE_FAILED,
     "params.connect_timeout"),
    ({"url": "http://h/", "request_timeout": "-1"}, ErrorCode.STORE_FAILED,
     "params.request_timeout"),
    ({"url": "http://h/", "header_Bad Name": "x"}, ErrorCode.STORE_FAILED,
     "params.header_Bad Name"),
    ({"url": "http://h/", "header_X-A": "a\r\nX-Injected: 1"}, ErrorCode.STORE_FAILED,
     "params.header_X-A"),
    ({"url": "http://h/", "user_agent": "a\nb"}, ErrorCode.STORE_FAILED, "params.user_agent"),
])
def test_validate_refuses_bad_params(params, code, names):
    action = HttpAction(make_options())
    with pytest.raises(ForsunPlanError) as refused:
        action.validate(params)
    assert refused.value.code == code
    assert names in refused.value.message


def test_validate_accepts_every_param():
    HttpAction(make_options()).validate({
        "url": "https://user:pw@example.com:8443/hook?x=1", "method": "delete", "body": "b",
        "header_X-Id": "1", "auth_username": "u", "auth_password": "p", "auth_mode": "BASIC",
        "user_agent": "ua", "connect_timeout": "2.5", "request_timeout": "30"})


def test_parsed_params_are_cached_within_a_bound_and_refusals_never_are(monkeypatch):
    action = HttpAction(make_options())
    call = action.parse({"url": "http://h/a", "method": "post"})
    assert action.parse({"url": "http://h/a", "method": "post"}) is call
    assert action.parse({"url": "http://h/a", "method": "put"}).method == "PUT"
    for _ in range(2):  # a refusal is raised every time, never remembered as a call
        with pytest.raises(ForsunPlanError):
            action.validate({"url": "gopher://h/"})
    monkeypatch.setattr(action_module, "PARSED_CALLS", 3)
    for n in range(5):
        action.parse({"url": f"http://h/{n}"})
    assert len(action._calls) == 3  # the oldest went first
    assert action.parse({"url": "http://h/a", "method": "post"}) is not call


async def test_bad_params_of_a_stored_plan_fail_without_retry(action, make_firing):
    with pytest.raises(ActionError) as failure:
        await action.execute(make_firing({"url": "gopher://old/plan"}))
    assert not failure.value.retry
    assert "params.url" in str(failure.value)


def test_plugin_registers_action_and_options():
    pm = get_plugin_manager(only=["forsun_action_http"])
    assert isinstance(collect_actions(pm)["http"].factory(make_options()), HttpAction)
    options = {opt.name: opt for opts in collect_options(pm).values() for opt in opts}
    assert {name: (opt.default, opt.section, opt.ini_key) for name, opt in options.items()} == {
        "action-http-max-clients": (64, "action", "http_max_clients"),
        "action-http-connect-timeout": (5.0, "action", "http_connect_timeout"),
        "action-http-request-timeout": (120.0, "action", "http_request_timeout"),
        "action-http-user-agent": ("", "action", "http_user_agent"),
    }


async def test_prepare_parses_ahead_and_never_raises(http_receiver, make_firing):
    action = HttpAction(make_options())
    try:
        params = {"url": http_receiver.url("/ok"), "method": "post"}
        action.prepare(params)
        assert tuple(params.items()) in action._calls  # parsed ahead, kept for the firing
        action.prepare({"url": "ftp://nowhere/"})  # refused: execute will say so
        with pytest.raises(ActionError, match=r"params\.url"):
            await action.execute(make_firing({"url": "ftp://nowhere/"}))
        await action.execute(make_firing(params))
    finally:
        await action.close()
    assert [r.method for r in http_receiver.delivered()] == ["POST"]
