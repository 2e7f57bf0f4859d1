"""The HTTP front end (DESIGN 3.3) against a real server started in-process on a free port.

The service runs on the reference store (``forsun.testing.reference``) so these tests do not
depend on a store plugin; plans use long delays so that nothing fires while a test runs.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.request
from typing import Any
from urllib.parse import quote

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tornado.httpclient import AsyncHTTPClient

from forsun import hookimpl
from forsun.action.base import Action, Firing
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.frontends.http import HttpFrontend, parse_bind
from forsun.frontends.http_routes import ROUTES, all_routes
from forsun.frontends.openapi import NDJSON, Param, Route
from forsun.plan import Plan
from forsun.plugins import PluginError, get_plugin_manager, register_plugin
from forsun.service import Service
from forsun.testing.options import make_options
from forsun.testing.reference import ReferenceStore
from forsun.testing.services import free_port

PLAN_FIELDS = set(attrs.fields_dict(Plan))
HOUR = 3600


class NoopAction(Action):
    async def execute(self, firing: Firing) -> None:
        return None


class BrokenAction(Action):
    """A plugin bug: validate() raises something that is not a ForsunPlanError."""

    def validate(self, params):
        raise RuntimeError("secret internals")

    async def execute(self, firing: Firing) -> None:
        return None


class TestPlugin:
    @hookimpl
    def register_stores(self, register):
        register("reference", ReferenceStore)

    @hookimpl
    def register_actions(self, register):
        register("noop", NoopAction)
        register("broken", BrokenAction)


@attrs.define
class Api:
    """A client of one running server."""

    service: Service
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def call(self, method: str, path: str, body: Any = None, *,
                   content_type: str | None = "application/json",
                   headers: dict[str, str] | None = None,
                   **request: Any) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, decoded JSON reply)``; a non-JSON reply fails the test."""
        if isinstance(body, dict | list):
            body = json.dumps(body)
        headers = {**({"Content-Type": content_type} if content_type else {}),
                   **(headers or {})}
        response = await AsyncHTTPClient().fetch(
            self.base + path, method=method, body=body, headers=headers, raise_error=False,
            allow_nonstandard_methods=True, **request)
        assert response.headers.get("Content-Type", "").startswith("application/json")
        return response.code, json.loads(response.body)

    async def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        status, reply = await self.call(method, path, body, **kwargs)
        assert (status, reply["errcode"], reply["errmsg"]) == (200, 0, ""), reply
        return reply["data"]

    async def error(self, method: str, path: str, body: Any = None, *, status: int = 200,
                    code: int, fragment: str = "", **kwargs: Any) -> str:
        got_status, reply = await self.call(method, path, body, **kwargs)
        assert (got_status, reply["errcode"]) == (status, code), reply
        assert reply["data"] == {}
        assert fragment in reply["errmsg"]
        return reply["errmsg"]

    def counter(self, name: str) -> int:
        return self.service.stats.counters[name]


@pytest.fixture
async def start_api():
    """``await start_api(**option values)`` runs a service with the HTTP front end (the
    Thrift front end blocked) and stops it after the test."""
    services = []

    async def start(*plugins: object, **values: Any) -> Api:
        pm = get_plugin_manager(block=["frontend_thrift"])
        register_plugin(pm, TestPlugin(), name="test_http_plugin")
        for plugin in plugins:
            register_plugin(pm, plugin)
        port = values.pop("port", None) or free_port()
        values.setdefault("http", f"127.0.0.1:{port}")
        service = Service(make_options(driver="reference", **values), pm)
        services.append(service)
        await service.start()
        return Api(service, port)

    yield start
    for service in services:
        await service.stop()


@pytest.fixture
async def api(start_api) -> Api:
    return await start_api()


def delay(key: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "seconds": HOUR, "action": "shell", "params": {"cmd": "true"},
            **fields}


# -- the routes ------------------------------------------------------------------------------


async def test_ping(api):
    assert await api.ok("GET", "/v1/ping") == {}


async def test_delay_plan_lifecycle(api):
    before = time.time()
    created = await api.ok("PUT", "/v1/plan", delay("order:1", count=2))
    assert set(created) == PLAN_FIELDS
    assert created["key"] == "order:1"
    assert created["second"] == HOUR and "seconds" not in created
    assert created["is_time_out"] is True
    assert created["count"] == 2
    assert before - 1 <= created["next_time"] - HOUR <= time.time() + 1
    assert await api.ok("GET", "/v1/plan?key=order:1") == created
    assert await api.ok("GET", "/v1/keys?prefix=order:") == ["order:1"]
    due = await api.ok("GET", f"/v1/time?timestamp={created['next_time']}")
    assert [plan["key"] for plan in due["plans"]] == ["order:1"]
    assert await api.ok("DELETE", "/v1/plan?key=order:1") == created
    await api.error("GET", "/v1/plan?key=order:1", code=1003, fragment="order:1")
    await api.error("DELETE", "/v1/plan?key=order:1", code=1003, fragment="order:1")


async def test_fixed_plan_takes_second_or_seconds_and_defaults_to_any(api):
    created = await api.ok("POST", "/v1/plan", {"key": "daily", "second": 0, "minute": 32,
                                                "hour": 16, "params": {"cmd": "true"}})
    assert created["is_time_out"] is False
    assert [created[f] for f in ("second", "minute", "hour", "day", "month", "week")] == \
        [0, 32, 16, -1, -1, -1]
    assert created["action"] == "shell"
    assert time.gmtime(created["next_time"])[3:6] == (16, 32, 0)
    same = await api.ok("POST", "/v1/plan", {"key": "daily", "seconds": 7, "second": 7,
                                             "params": {"cmd": "true"}})
    assert same["second"] == 7


async def test_json_whatever_the_content_type(api):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        created = await api.ok("PUT", "/v1/plan", delay("ct"), content_type=content_type)
        assert created["second"] == HOUR


async def test_integer_strings_and_number_params_are_accepted(api):
    created = await api.ok("PUT", "/v1/plan", {"key": "s", "seconds": " 90 ", "minute": "1",
                                               "count": 3.0, "action": "noop",
                                               "params": {"port": 6379, "ratio": 0.5}})
    assert (created["second"], created["minute"], created["count"]) == (90, 1, 3)
    assert created["params"] == {"port": "6379", "ratio": "0.5"}


async def test_an_empty_key_gets_a_generated_one(api):
    first = await api.ok("PUT", "/v1/plan", delay(""))
    second = await api.ok("PUT", "/v1/plan", {"seconds": HOUR, "action": "noop"})
    assert first["key"] and second["key"] and first["key"] != second["key"]


async def test_creating_an_existing_key_replaces_it(api):
    await api.ok("PUT", "/v1/plan", delay("dup"))
    await api.ok("PUT", "/v1/plan", delay("dup", seconds=2 * HOUR))
    assert (await api.ok("GET", "/v1/plan?key=dup"))["second"] == 2 * HOUR
    assert await api.ok("GET", "/v1/keys?prefix=dup") == ["dup"]


@pytest.mark.parametrize(("member", "value", "field"), [
    ("seconds", "abc", "seconds"),
    ("seconds", "9" * 5000, "seconds"),
    ("second", [1], "second"),
    ("minute", True, "minute"),
    ("count", 1.5, "count"),
    ("key", 5, "key"),
    ("action", {"a": 1}, "action"),
    ("params", [], "params"),
    ("params", {"cmd": ["ls"]}, "params.cmd"),
    ("params", {"cmd": None}, "params.cmd"),
])
async def test_wrong_member_types_name_the_member(api, member, value, field):
    message = await api.error("PUT", "/v1/plan", {**delay("t"), member: value}, code=1004)
    assert message.startswith(f"{field}: must be")


async def test_seconds_and_second_that_differ_are_refused(api):
    await api.error("PUT", "/v1/plan", delay("t", second=5), code=1004, fragment="second")


@pytest.mark.parametrize(("method", "body", "code", "fragment"), [
    ("PUT", {"key": "x", "seconds": 5, "action": "nope"}, 1006, "nope"),
    ("PUT", {"key": "x", "seconds": 5, "action": "shell"}, 1007, "params.cmd"),
    ("POST", {"key": "x", "second": 60, "action": "noop"}, 1004, "second"),
    ("POST", {"key": "x", "second": 0, "day": 30, "month": 2, "action": "noop"}, 1002, ""),
    ("PUT", {"key": "x", "seconds": 5, "count": -1, "action": "noop"}, 1004, "count"),
    ("PUT", {"key": "x", "seconds": 40000, "action": "noop"}, 1004, "second"),
])
async def test_refused_plans_carry_the_service_codes(api, method, body, code, fragment):
    await api.error(method, "/v1/plan", body, code=code, fragment=fragment)
    assert await api.ok("GET", "/v1/keys") == []


@pytest.mark.parametrize(("body", "code", "fragment"), [
    (b"", 1007, "body"),
    (b"  \n", 1007, "body"),
    (b"{bad", 1004, "invalid JSON"),
    (b"\xff\xfe{}", 1004, "UTF-8"),
    (b'"a string"', 1004, "JSON object"),
    (b"42", 1004, "JSON object"),
    (b"[]", 1007, "no plan"),
    (b"[" * 100_000, 1004, "invalid JSON"),
])
async def test_bodies_that_cannot_be_used_get_400_and_the_envelope(api, body, code, fragment):
    await api.error("PUT", "/v1/plan", body, status=400, code=code, fragment=fragment)


async def test_bodies_only_the_standard_json_reader_accepts_still_create(api):
    """The fast JSON reader refuses a byte-order mark and NaN; the standard one decides."""
    bom = b"\xef\xbb\xbf" + json.dumps(delay("bom")).encode()
    assert (await api.ok("PUT", "/v1/plan", bom))["key"] == "bom"
    nan = json.dumps({**delay("nan"), "unknown": float("nan")}).encode()
    assert b"NaN" in nan
    assert (await api.ok("PUT", "/v1/plan", nan))["key"] == "nan"


async def test_number_params_keep_their_digits_or_are_refused(api):
    body = delay("big", action="noop", params={"u64": 2**64 - 1, "i64": -(2**63)})
    assert (await api.ok("PUT", "/v1/plan", body))["params"] == \
        {"u64": str(2**64 - 1), "i64": str(-(2**63))}
    for number in (2**64, -(2**63) - 1, 10**30):
        message = await api.error("PUT", "/v1/plan", {**body, "params": {"n": number}},
                                  code=1004, fragment="params.n")
        assert "as a string" in message
    assert await api.ok("GET", "/v1/keys") == ["big"]


def test_replies_orjson_refuses_are_still_json():
    from forsun.frontends.jsonbody import dumps
    assert json.loads(dumps({"a": [1, "ü"]})) == {"a": [1, "ü"]}
    assert dumps({"a": "ü"}) == '{"a":"ü"}'.encode()
    assert json.loads(dumps({1: "x", "big": 2**70})) == {"1": "x", "big": 2**70}
    assert json.loads(dumps({"lone": "\ud800"})) == {"lone": "\ud800"}


async def test_a_json_array_creates_all_or_nothing(api):
    plans = await api.ok("PUT", "/v1/plan", [delay("a1"), delay("a2", seconds=2 * HOUR)])
    assert [(p["key"], p["second"], p["is_time_out"]) for p in plans] == \
        [("a1", HOUR, True), ("a2", 2 * HOUR, True)]
    await api.error("PUT", "/v1/plan", [delay("b1"), delay("b2", action="nope")],
                    code=1006, fragment="[1]: ")
    await api.error("PUT", "/v1/plan", [delay("b1"), delay("b2", minute="x")],
                    code=1004, fragment="[1].minute")
    assert await api.ok("GET", "/v1/keys") == ["a1", "a2"]


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_a_json_array_item_is_a_delay_plan_unless_its_method_is_create(api, method):
    """As the original, whatever the HTTP method."""
    plans = await api.ok(method, "/v1/plan", [
        delay("m1"), delay("m2", method="createTimeout"),
        {"key": "m3", "method": "create", "second": 5, "minute": 3, "action": "noop"}])
    assert [(p["key"], p["is_time_out"]) for p in plans] == \
        [("m1", True), ("m2", True), ("m3", False)]
    await api.error(method, "/v1/plan", [delay("m4"), delay("m5", method="remove")],
                    code=1004, fragment="[1].method")
    assert await api.ok("GET", "/v1/keys?prefix=m") == ["m1", "m2", "m3"]


async def test_a_json_array_of_one_plan_answers_that_plan(api):
    plan = await api.ok("POST", "/v1/plan", [delay("single")])
    assert (plan["key"], plan["is_time_out"]) == ("single", True)
    assert await api.ok("PUT", "/v1/plan?reply=keys", [delay("single")]) == ["single"]
    batch = await api.ok("POST", "/v1/plans", [delay("single", is_time_out=True)])
    assert [p["key"] for p in batch] == ["single"]


# -- crontab bodies --------------------------------------------------------------------------


CRONTAB = "application/crontab"


async def test_crontab_body_creates_a_list(api):
    body = ("# comment\n"
            "set c1 */3600/2 * * * * * shell 'cmd=true'\n"
            "\n"
            "c2 0 0 3 * * * noop\n"
            "c3 * */90 * * * * sh true\n")
    plans = await api.ok("POST", "/v1/plan", body, content_type=CRONTAB)
    assert [(p["key"], p["is_time_out"], p["count"]) for p in plans] == \
        [("c1", True, 2), ("c2", False, 0), ("c3", True, 1)]
    assert plans[0]["second"] == 3600 and plans[2]["minute"] == 90
    assert plans[2]["params"] == {"cmd": "true"}
    assert await api.ok("GET", "/v1/keys?prefix=c") == ["c1", "c2", "c3"]


async def test_a_crontab_line_that_is_a_single_plan_answers_that_plan(api):
    """As the original: /v1/plan answers one plan as itself; /v1/plans always a list."""
    plan = await api.ok("PUT", "/v1/plan", "one */3600 * * * * * noop",
                        content_type="Application/Crontab; charset=utf-8")
    assert (plan["key"], plan["second"], plan["minute"], plan["week"]) == ("one", 3600, 0, 0)
    plans = await api.ok("POST", "/v1/plans", "two */3600 * * * * * noop",
                         content_type=CRONTAB)
    assert [p["key"] for p in plans] == ["two"]


@pytest.mark.parametrize(("bad_line", "code", "fragment"), [
    ("c3 */60 x * * * * noop", 1004, "line 4: minute:"),
    ("c3 */60 * * * * * nope", 1006, "line 4: "),
    ("c3 */60 * * * * * shell", 1007, "line 4: params.cmd"),
    ("c3 0 0 0 30 2 * noop", 1002, "line 4: "),
    ("c3 */60 * *", 1007, "line 4: day is required"),
])
async def test_crontab_is_all_or_nothing_and_names_the_line(api, bad_line, code, fragment):
    body = f"c1 */3600 * * * * * noop\nc2 */3600 * * * * * noop\n# c\n{bad_line}\n"
    await api.error("POST", "/v1/plan", body, content_type=CRONTAB, code=code, fragment=fragment)
    assert await api.ok("GET", "/v1/keys") == []


async def test_a_crontab_without_plan_lines_is_a_bad_request(api):
    await api.error("POST", "/v1/plan", "# nothing\n\n", content_type=CRONTAB, status=400,
                    code=1007, fragment="no plan line")


# -- the batch route -------------------------------------------------------------------------


async def test_batch_route_mixes_delay_and_fixed_plans(api):
    plans = await api.ok("POST", "/v1/plans", [
        delay("d1", is_time_out=True),
        {"key": "f1", "second": 0, "minute": 0, "action": "noop"},
        {"key": "f2", "second": 30, "action": "noop", "is_time_out": False},
    ])
    assert [(p["key"], p["is_time_out"]) for p in plans] == \
        [("d1", True), ("f1", False), ("f2", False)]


async def test_batch_route_is_all_or_nothing(api):
    await api.error("POST", "/v1/plans", [delay("d1", is_time_out=True),
                                          {"key": "f1", "second": 99, "action": "noop"}],
                    code=1004, fragment="[1]: second")
    await api.error("POST", "/v1/plans", [delay("d1", is_time_out="yes")], code=1004,
                    fragment="[0].is_time_out")
    await api.error("POST", "/v1/plans", [delay("d1"), "x"], code=1004, fragment="[1]:")
    await api.error("POST", "/v1/plans", delay("d1"), status=400, code=1004,
                    fragment="JSON array")
    assert await api.ok("GET", "/v1/keys") == []


async def test_batch_route_takes_a_crontab(api):
    plans = await api.ok("POST", "/v1/plans", "b1 */3600 * * * * * noop\n",
                         content_type=CRONTAB)
    assert [p["key"] for p in plans] == ["b1"]


async def test_reply_keys_answers_only_the_keys_in_order(api):
    keys = await api.ok("POST", "/v1/plans?reply=keys", [
        delay("r2", is_time_out=True), {"key": "", "second": 5, "action": "noop"},
        delay("r1", is_time_out=True)])
    assert keys[0] == "r2" and keys[2] == "r1" and len(keys[1]) == 32  # generated
    assert sorted(await api.ok("GET", "/v1/keys")) == sorted(keys)
    stored = await api.ok("GET", f"/v1/plan?key={keys[1]}")
    assert (stored["second"], stored["action"]) == (5, "noop")
    assert await api.ok("PUT", "/v1/plan?reply=keys", "c1 */60 * * * * * noop\n"
                                                      "c2 */60 * * * * * noop\n",
                        content_type=CRONTAB) == ["c1", "c2"]
    plans = await api.ok("POST", "/v1/plans?reply=plans", [delay("r3", is_time_out=True)])
    assert plans[0]["key"] == "r3" and plans[0]["next_time"] > 0


async def test_an_unknown_reply_mode_is_refused_before_anything_is_stored(api):
    await api.error("POST", "/v1/plans?reply=count", [delay("r1", is_time_out=True)],
                    code=1004, fragment="reply")
    await api.error("PUT", "/v1/plan?reply=", delay("r1"), code=1004, fragment="reply")
    assert await api.ok("GET", "/v1/keys") == []


# -- queries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?timestamp=", "?timestamp=0"])
async def test_time_defaults_to_now(api, query):
    data = await api.ok("GET", f"/v1/time{query}")
    assert data["plans"] == []
    assert abs(data["current_timestamp"] - time.time()) < 5


async def test_time_lists_the_plans_due_then(api):
    a = await api.ok("PUT", "/v1/plan", delay("t1"))
    b = await api.ok("PUT", "/v1/plan", delay("t2", seconds=2 * HOUR))
    first = await api.ok("GET", f"/v1/time?timestamp={a['next_time']}")
    assert [p["key"] for p in first["plans"]] == ["t1"]
    second = await api.ok("GET", f"/v1/time?timestamp={b['next_time']}")
    assert [p["key"] for p in second["plans"]] == ["t2"]
    await api.error("GET", "/v1/time?timestamp=soon", code=1007, fragment="timestamp")
    await api.error("GET", "/v1/time?timestamp=1.5", code=1007, fragment="timestamp")
    await api.error("GET", "/v1/time?timestamp=-1", code=1004, fragment="timestamp")
    await api.error("GET", "/v1/time?timestamp=" + "9" * 5000, code=1004, fragment="timestamp")


async def test_keys_by_prefix(api):
    await api.ok("PUT", "/v1/plan", [delay(k) for k in ("b:1", "a:2", "a:1", "a")])
    assert await api.ok("GET", "/v1/keys?prefix=a:") == ["a:1", "a:2"]
    assert await api.ok("GET", "/v1/keys") == ["a", "a:1", "a:2", "b:1"]
    assert await api.ok("GET", "/v1/keys?prefix=zzz") == []


async def test_keys_star_is_every_key_as_in_the_original(api):
    await api.ok("PUT", "/v1/plan", [delay(k) for k in ("b:1", "a:1")])
    assert await api.ok("GET", "/v1/keys?prefix=*") == ["a:1", "b:1"]
    assert await api.ok("GET", f"/v1/keys?prefix={quote('a:* ')}") == ["a:1"]


async def test_keys_with_spaces_and_unicode_round_trip(api):
    key = " spaced ключ "
    await api.ok("PUT", "/v1/plan", delay(key))
    assert (await api.ok("GET", f"/v1/plan?key={quote(key)}"))["key"] == key


async def test_a_missing_key_argument_is_1007(api):
    await api.error("GET", "/v1/plan", code=1007, fragment="key")
    await api.error("DELETE", "/v1/plan?key=", code=1007, fragment="key")


async def test_info_has_every_figure_of_the_rpc_info(api):
    info = await api.ok("GET", "/v1/info")
    expected = {
        "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
        "mem_vms", "current_time", "stores", "current_store", "actions", "extensions",
        "bind_port", "http_bind_port", "connecting_count", "connected_count",
        "requesting_count", "requested_count", "requested_error_count",
        "http_connecting_count", "http_connected_count", "http_requesting_count",
        "http_requested_count", "http_requested_error_count", "created_count",
        "create_timeouted_count", "removed_count", "plan_count", "timeout_handling_count",
        "timeout_handled_count", "action_executing_count", "action_executed_count",
        "action_executed_error_count", "action_retried_count", "timer_loop_count",
        "timer_loop_ready_error_count",
    }
    assert expected <= set(info)
    assert all(isinstance(value, str) for value in info.values())
    assert info["http_bind_port"] == f"127.0.0.1:{api.port}"


async def test_http_counters(api):
    await api.ok("GET", "/v1/ping")
    requested = api.counter("http_requested_count")
    errors = api.counter("http_requested_error_count")
    connected = api.counter("http_connected_count")
    await api.ok("GET", "/v1/ping")
    await api.error("GET", "/v1/plan?key=none", code=1003)
    await api.call("GET", "/nowhere")
    assert api.counter("http_requested_count") == requested + 3
    assert api.counter("http_requested_error_count") == errors + 2
    assert api.counter("http_connected_count") >= connected + 1
    assert api.counter("http_requesting_count") == 0
    info = await api.ok("GET", "/v1/info")
    assert int(info["http_requested_count"]) == requested + 3
    assert int(info["http_requesting_count"]) == 1  # the info request itself


# -- errors are envelopes --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/plan/", "/v2/ping", "/v1/plan/x"])
async def test_unknown_routes_get_a_404_envelope(api, path):
    await api.error("GET", path, status=404, code=1001, fragment=path)
    await api.error("POST", path, b"{}", status=404, code=1001)


async def test_methods_not_served_get_a_405_envelope_with_allow(api):
    response = await AsyncHTTPClient().fetch(api.base + "/v1/ping", method="DELETE",
                                             raise_error=False)
    assert response.code == 405
    assert response.headers["Allow"] == "GET"
    assert json.loads(response.body)["errcode"] == 1001


async def test_an_unknown_method_gets_a_405_envelope(api):
    status, reply = await _raw(api.port, b"FOO /v1/ping HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n")
    assert (status, reply["errcode"]) == (405, 1001)


async def test_an_unexpected_exception_is_a_500_envelope_without_traceback(api):
    status, reply = await api.call("PUT", "/v1/plan", {"key": "x", "seconds": 5,
                                                       "action": "broken"})
    assert (status, reply["errcode"]) == (500, 1001)
    assert "RuntimeError" in reply["errmsg"]
    assert "secret internals" not in reply["errmsg"]
    assert "Traceback" not in json.dumps(reply)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)
_members = st.sampled_from(["key", "seconds", "second", "minute", "hour", "day", "month",
                            "week", "count", "action", "params", "is_time_out", "other"])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_members, _json_values, max_size=6) | _json_values,
       method=st.sampled_from(["PUT", "POST"]), path=st.sampled_from(["/v1/plan", "/v1/plans"]))
async def test_random_json_gets_an_envelope_never_a_500(api, body, method, path):
    if isinstance(body, dict) and "action" not in body:
        body["action"] = "noop"
    status, reply = await api.call(method, path, json.dumps(body))
    assert status in (200, 400, 405)
    assert set(reply) == {"errcode", "errmsg", "data"}
    assert reply["errcode"] == 0 or 1001 <= reply["errcode"] <= 1007


# -- body size -------------------------------------------------------------------------------


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes; read the reply until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def test_a_body_over_the_limit_announced_by_content_length(start_api):
    api = await start_api(http_max_body_size=1024)
    status, reply = await _raw(api.port, b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Length: 20000000\r\n\r\n")
    assert (status, reply["errcode"]) == (413, 1004)
    assert "1024" in reply["errmsg"]


async def test_a_body_over_the_limit_with_expect_100_continue(start_api):
    api = await start_api(http_max_body_size=1024)
    status, reply = await api.call("PUT", "/v1/plan", json.dumps(delay("big", pad="x" * 2000)),
                                   expect_100_continue=True)
    assert (status, reply["errcode"]) == (413, 1004)


async def test_a_chunked_body_over_the_limit(start_api):
    api = await start_api(http_max_body_size=1024)
    chunk = b"x" * 600
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    status, reply = await _raw(api.port, b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert (status, reply["errcode"]) == (413, 1004)


async def test_a_body_of_exactly_the_limit_is_read(start_api):
    api = await start_api(http_max_body_size=1024)
    body = json.dumps(delay("fits")).encode()
    body += b" " * (1024 - len(body))
    assert (await api.ok("PUT", "/v1/plan", body))["key"] == "fits"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    status, reply = await _raw(api.port, b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    assert (status, reply["errcode"]) == (200, 0)


# -- export and import ----------------------------------------------------------------------


async def test_export_streams_ndjson(api):
    for key in ("a:1", "a:2", "b:1"):
        await api.ok("PUT", "/v1/plan", {"key": key, "seconds": 60, "count": 3,
                                         "action": "noop"})
    response = await AsyncHTTPClient().fetch(api.base + "/v1/plans?prefix=a:")
    assert response.headers["Content-Type"] == NDJSON
    lines = [json.loads(line) for line in response.body.splitlines()]
    assert [plan["key"] for plan in lines] == ["a:1", "a:2"]
    assert lines[0] == await api.ok("GET", "/v1/plan?key=a:1")


async def test_import_with_state_keep_restores_the_schedule_state(api):
    plan = {"key": "restored", "second": 60, "minute": -1, "hour": -1, "day": -1,
            "month": -1, "week": -1, "is_time_out": True, "count": 5,
            "current_count": 2, "next_time": 2_000_000_000, "last_timeout": 1_999_999_940,
            "created_time": 1_999_999_000.5, "status": 1, "action": "noop", "params": {}}
    await api.ok("POST", "/v1/plans?state=keep", [plan])
    assert await api.ok("GET", "/v1/plan?key=restored") == {**plan, "status": 0}
    fresh = await api.ok("POST", "/v1/plans", [plan])
    assert fresh[0]["current_count"] == 0 and fresh[0]["next_time"] != plan["next_time"]
    del plan["next_time"]
    await api.error("POST", "/v1/plans?state=keep", [plan], code=1007, fragment="next_time")
    await api.error("POST", "/v1/plans?state=sideways", [plan], code=1004, fragment="state")


# -- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_document_is_valid_openapi_3_1(api):
    from openapi_spec_validator import validate

    status, document = await api.call("GET", "/v1/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_plan_schema_names_every_field_of_a_plan():
    from forsun.frontends.openapi import SCHEMAS

    schema = SCHEMAS["Plan"]
    assert list(schema["properties"]) == schema["required"] == [
        field.name for field in attrs.fields(Plan)]


async def test_every_route_in_the_spec_is_served_and_nothing_else(start_api):
    api = await start_api(RoutesPlugin())
    _, document = await api.call("GET", "/v1/openapi.json")
    described = {(path, method.upper()) for path, ops in document["paths"].items()
                 for method in ops}
    server = next(f for f in api.service.frontends if isinstance(f, HttpFrontend))._server
    served = {(path, method) for path, by_method in server.routes.items()
              for method in by_method}
    assert served == described == {(route.path, route.method)
                                   for route in all_routes(api.service.pm)}
    assert described > {(route.path, route.method) for route in ROUTES}
    for path, ops in document["paths"].items():
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            operation = ops.get(method.lower())
            if operation and NDJSON in operation["responses"]["200"]["content"]:
                continue  # not JSON: test_export_streams_ndjson
            response = await AsyncHTTPClient().fetch(
                api.base + path, method=method, body=b"" if method != "GET" else None,
                raise_error=False, allow_nonstandard_methods=True)
            if method.lower() in ops:
                # served (a route's own 404, e.g. no such asset, is not a missing route)
                assert response.code != 405 and b'"no route ' not in response.body, \
                    (method, path, response.body)
            else:
                assert response.code == 405, (method, path, response.body)


# -- binding and enabling --------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    (":8080", ("", 8080)),
    ("8080", ("", 8080)),
    ("[::1]:80", ("::1", 80)),
    ("localhost:0", ("localhost", 0)),
])
def test_parse_bind(text, expected):
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", ["", "host", "host:", "host:99999", "::1:80", "a:b"])
def test_parse_bind_refuses(text):
    with pytest.raises(ValueError, match="--http"):
        parse_bind(text)


async def test_off_without_http(start_api):
    api = await start_api(http="")
    assert not any(isinstance(f, HttpFrontend) for f in api.service.frontends)
    assert (await api.service.info())["http_bind_port"] == ""


async def test_bind_every_interface_and_a_free_port(start_api):
    api = await start_api(http=":0")
    frontend = next(f for f in api.service.frontends if isinstance(f, HttpFrontend))
    host, port = frontend.address.rsplit(":", 1)
    assert host == "0.0.0.0" and int(port) > 0
    api.port = int(port)
    assert await api.ok("GET", "/v1/ping") == {}
    assert (await api.ok("GET", "/v1/info"))["http_bind_port"] == frontend.address


async def test_stop_closes_the_port(start_api):
    api = await start_api()
    frontend = next(f for f in api.service.frontends if isinstance(f, HttpFrontend))
    await frontend.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", api.port)


# -- end to end ------------------------------------------------------------------------------


def test_forsund_child_creates_over_http_and_fires(tmp_path, forsunds):
    """A real forsund (mem store, shell action): a plan created over HTTP fires and, having
    fired its last time, is removed."""
    marker = tmp_path / "fired"
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "db"))
    body = (f"now */1/1 * * * * * shell 'cmd=touch {marker}'\n"
            "later */3600 * * * * * shell 'cmd=true'\n").encode()
    reply = _urlopen(daemon.http_url + "/v1/plans", body, "application/crontab")
    assert [plan["key"] for plan in reply["data"]] == ["now", "later"]
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), daemon.log_text()
    while time.monotonic() < deadline:
        if _urlopen(daemon.http_url + "/v1/keys")["data"] == ["later"]:
            break
        time.sleep(0.05)
    assert _urlopen(daemon.http_url + "/v1/plan?key=now")["errcode"] == 1003


def _urlopen(url: str, body: bytes | None = None, content_type: str = "") -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET",
                                     headers={"Content-Type": content_type} if body else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# tornado's bind_sockets leaves the socket whose bind() failed for the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_port_in_use_is_an_error_naming_the_option(start_api):
    api = await start_api()
    with pytest.raises(OSError, match=f"--http 127.0.0.1:{api.port}"):
        await start_api(http=f"127.0.0.1:{api.port}")


_member_values = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 17), 1 << 17),
                           st.floats(allow_nan=False, allow_infinity=False),
                           st.sampled_from(["", "7", " 9 ", "x", "shell", "-1"]),
                           st.dictionaries(st.sampled_from(["cmd", "url", "n"]),
                                           st.one_of(st.text(max_size=3), st.integers(),
                                                     st.none()), max_size=2))
_request_objects = st.dictionaries(
    st.sampled_from(["key", "action", "params", "second", "seconds", "minute", "hour", "day",
                     "month", "week", "count", "is_time_out", "other"]),
    _member_values)


@settings(max_examples=1000)
@given(_request_objects, st.booleans())
def test_any_json_object_is_a_plan_or_a_1004_naming_a_member(obj, is_time_out):
    from forsun.frontends.http_decoding import plan_from_json

    try:
        plan = plan_from_json(obj, is_time_out=is_time_out)
    except ForsunPlanError as exc:
        assert exc.code == ErrorCode.STORE_FAILED
        assert exc.message.partition(":")[0].partition(".")[0] in obj
    else:
        assert plan.is_time_out is is_time_out
        assert type(plan.key) is str and type(plan.action) is str
        numbers = (plan.second, plan.minute, plan.hour, plan.day, plan.month, plan.week,
                   plan.count)
        assert all(type(number) is int for number in numbers)
        assert all(type(value) is str for value in plan.params.values())


# -- routes added by plugins (register_routes) -----------------------------------------------


async def _hello(handler) -> dict[str, Any]:
    return {"hello": handler.get_query_argument("name", "world"),
            "plans": len(await handler.service.keys())}


async def _asset(handler) -> tuple[str, bytes]:
    name = handler.path_kwargs["path"]
    if name == "missing.css":
        raise ForsunPlanError(ErrorCode.NOT_FOUND, f"no asset {name}")
    return "text/css; charset=utf-8", f"/* {name} */".encode()


async def _boom(handler) -> None:
    raise RuntimeError("secret internals")


class RoutesPlugin:
    """A third-party plugin adding a JSON route, prefix-matched raw assets and a POST."""

    @hookimpl
    def register_routes(self, register):
        register(Route("GET", "/x/hello", "xHello", "Say hello", _hello,
                       query=(Param("name", {"type": "string"}, "who"),),
                       data={"type": "object"}))
        register(Route("GET", "/x/static/{path}", "xAsset", "An asset", _asset,
                       data={"type": "string"}, raw=True, media_type="text/css"))
        register(Route("POST", "/x/boom", "xBoom", "Fails", _boom, data={"type": "object"}))


async def test_a_plugin_route_gets_the_envelope_the_token_and_the_openapi_entry(start_api):
    from openapi_spec_validator import validate

    api = await start_api(RoutesPlugin(), token="sesame")
    bearer = {"Authorization": "Bearer sesame"}
    await api.error("GET", "/x/hello", status=401, code=1001, fragment="token")
    assert await api.ok("GET", "/x/hello?name=ann", headers=bearer) == {"hello": "ann",
                                                                          "plans": 0}
    await api.error("POST", "/x/boom", b"", status=500, code=1001,
                    fragment="RuntimeError", headers=bearer)
    _, document = await api.call("GET", "/v1/openapi.json")
    assert document["paths"]["/x/hello"]["get"]["security"] == [{}, {"bearerToken": []}]
    asset = document["paths"]["/x/static/{path}"]["get"]
    assert asset["parameters"][0] == {"name": "path", "in": "path", "required": True,
                                      "schema": {"type": "string"},
                                      "description": "the rest of the path"}
    assert list(asset["responses"]["200"]["content"]) == ["text/css"]
    validate(document)


async def test_a_raw_plugin_route_sends_its_bytes_for_any_rest_of_the_path(start_api):
    api = await start_api(RoutesPlugin())
    response = await AsyncHTTPClient().fetch(api.base + "/x/static/css/site.css")
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert response.body == b"/* css/site.css */"
    await api.error("GET", "/x/static/missing.css", code=1003, fragment="missing.css")
    await api.error("GET", "/x/statics", status=404, code=1001)


def test_a_route_registered_twice_names_both_plugins():
    class Again:
        @hookimpl
        def register_routes(self, register):
            register(Route("GET", "/x/hello", "again", "again", _hello, data={}))

    pm = get_plugin_manager(only=[])
    register_plugin(pm, RoutesPlugin(), name="first")
    register_plugin(pm, Again(), name="second")
    with pytest.raises(PluginError, match=r"GET /x/hello .*'first' and 'second'"):
        all_routes(pm)
    class Copycat:
        @hookimpl
        def register_routes(self, register):
            register(ROUTES[0])

    pm = get_plugin_manager(only=[])
    register_plugin(pm, Copycat(), name="copycat")
    with pytest.raises(PluginError, match="'forsun' and 'copycat'"):
        all_routes(pm)


@pytest.mark.parametrize(("headers", "refused"), [
    ({}, False),
    ({"Sec-Fetch-Site": "same-origin"}, False),
    ({"Sec-Fetch-Site": "none"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, True),
    ({"Sec-Fetch-Site": "same-site"}, True),
    ({"Origin": "http://evil.example"}, True),
    ({"Origin": "null"}, True),
])
async def test_a_mutating_request_from_another_site_is_refused(start_api, headers, refused):
    api = await start_api()
    status, reply = await api.call("PUT", "/v1/plan", delay("site:1"), headers=headers)
    assert (status, reply["errcode"]) == ((403, 1001) if refused else (200, 0)), reply
    assert (await api.call("GET", "/v1/plan?key=site:1", headers=headers))[1]["errcode"] == (
        1003 if refused else 0)


async def test_a_mutating_request_from_the_servers_own_page_passes(start_api):
    api = await start_api()
    own = {"Origin": api.base, "Sec-Fetch-Site": "same-origin"}
    await api.ok("PUT", "/v1/plan", delay("site:own"), headers=own)
    await api.ok("DELETE", "/v1/plan?key=site:own", headers=own)


async def test_the_plugin_authors_routes_example_works_as_written(start_api):
    import re
    import types
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "plugin-authors.md").read_text()
    code = re.search(r"## HTTP routes.*?```python\n(.*?)```", doc, re.S).group(1)
    plugin = types.ModuleType("hello_routes")
    exec(compile(code, "plugin-authors.md", "exec"), plugin.__dict__)
    api = await start_api(plugin)
    assert await api.ok("GET", "/hello/count?prefix=x") == {"plans": 0}
    asset = await AsyncHTTPClient().fetch(api.base + "/hello/static/hello.css")
    assert (asset.headers["Content-Type"], asset.body) == ("text/css", b"body { color: teal }")
    await api.error("GET", "/hello/static/other.css", status=404, code=1003)


# -- the server: parsing, bounds, connections ----------------------------------------------------


async def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes; everything the server sent until it closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _replies(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The ``(status, envelope)`` of each reply in ``data``, in order."""
    replies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
        replies.append((int(head.split()[1]), json.loads(rest[:length])))
        data = rest[length:]
    return replies


async def test_a_head_over_the_limit_gets_431_and_the_connection_closes(api):
    data = await _exchange(api.port, b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Pad: "
                           + b"a" * (70 << 10) + b"\r\n\r\n")
    [(status, reply)] = _replies(data)
    assert (status, reply["errcode"]) == (431, 1001)


async def test_pipelined_requests_are_answered_in_order(api):
    body = json.dumps(delay("piped")).encode()
    data = await _exchange(api.port, b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\nContent-Length: %d"
                           b"\r\n\r\n%s" % (len(body), body)
                           + b"GET /v1/plan?key=piped HTTP/1.1\r\nHost: x\r\n\r\n"
                           + b"GET /v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    replies = _replies(data)
    assert [status for status, _ in replies] == [200, 200, 200]
    assert replies[0][1]["data"]["key"] == replies[1][1]["data"]["key"] == "piped"
    assert replies[2][1]["data"] == {}


@pytest.mark.parametrize("request_bytes", [
    b"hello\r\n\r\n",
    b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
])
async def test_what_is_not_http_gets_400_and_the_connection_closes(api, request_bytes):
    [(status, reply)] = _replies(await _exchange(api.port, request_bytes))
    assert (status, reply["errcode"]) == (400, 1001)


async def test_http_1_0_closes_after_the_reply(api):
    [(status, reply)] = _replies(await _exchange(api.port, b"GET /v1/ping HTTP/1.0\r\n\r\n"))
    assert (status, reply["errcode"]) == (200, 0)


async def test_a_client_gone_in_the_middle_of_a_body_leaves_nothing_counted(api):
    _, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ke")
    await writer.drain()
    await asyncio.sleep(0.1)
    assert api.counter("http_requesting_count") == 1
    writer.close()
    for _ in range(100):
        if api.counter("http_connecting_count") == 0:
            break
        await asyncio.sleep(0.02)
    assert api.counter("http_connecting_count") == 0
    assert api.counter("http_requesting_count") == 0


async def test_a_head_sent_a_line_at_a_time_is_cut_at_the_idle_timeout(start_api):
    api = await start_api(idle_timeout=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n")
    started = asyncio.get_running_loop().time()
    closed_after = None
    for _ in range(20):  # a header line every 0.2 s: never idle, never done
        await asyncio.sleep(0.2)
        try:
            writer.write(b"X-Slow: y\r\n")
            await writer.drain()
            if await asyncio.wait_for(reader.read(), 0.01) == b"":
                closed_after = asyncio.get_running_loop().time() - started
                break
        except (OSError, TimeoutError):
            if isinstance(writer.transport, asyncio.Transport) and writer.transport.is_closing():
                closed_after = asyncio.get_running_loop().time() - started
                break
    writer.close()
    assert closed_after is not None and closed_after < 3.0


async def test_expect_100_continue_gets_its_go_ahead(api):
    body = json.dumps(delay("expected")).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
    writer.write(b"PUT /v1/plan HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
    await reader.readline()
    writer.write(body)
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_client_that_does_not_read_its_replies_is_not_served_ahead(api):
    """Pipelined requests whose replies are never read: the server stops reading once the
    replies it holds fill its send buffer, instead of buffering every reply."""
    sock = socket.create_connection(("127.0.0.1", api.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    request = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"
    sent = 0
    try:
        for _ in range(2000):
            try:
                sent += sock.send(request * 50)
            except BlockingIOError:
                break
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.5)
        served = api.counter("http_requested_count")
    finally:
        sock.close()
    assert served < sent // len(request) / 2, (served, sent // len(request))
