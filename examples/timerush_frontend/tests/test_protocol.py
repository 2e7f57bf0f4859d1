"""The timerush protocol against a real service: register, unregister, notify, chaining and
retries, through the front end and the engine."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import Plan
from forsun.testing.receiver import Reply
from forsun_frontend_timerush.frontend import parse_listen
from forsun_frontend_timerush.protocol import MAX_SECONDS, follow_up_key

OK = Reply.json({"ret": 0})

VALID = {"callback_cmd": "http://127.0.0.1:9/cb", "callback_data": "x", "seconds": 60}


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("localhost:80", ("localhost", 80)),
    (":8080", (None, 8080)), ("[::1]:8080", ("::1", 8080)), (" 127.0.0.1:0 ", ("127.0.0.1", 0)),
])
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", "127.0.0.1", "127.0.0.1:65536", "::1:8080",
                                  "127.0.0.1:http"])
def test_bad_listen_addresses_name_the_flag(text):
    with pytest.raises(ValueError, match="--timerush-listen"):
        parse_listen(text)


async def test_register_stores_a_delay_plan_firing_once(start_service):
    running = await start_service()
    before = int(time.time())
    key = await running.client.register("http://127.0.0.1:9/cb", '{"order": 1}', 90061)
    plan = await running.service.get(key)
    assert key.startswith("timerush:")
    assert plan.action == "timerush"
    assert plan.params == {"callback_cmd": "http://127.0.0.1:9/cb", "callback_data": '{"order": 1}'}
    assert (plan.is_time_out, plan.count) == (True, 1)
    assert (plan.day, plan.hour, plan.minute, plan.second) == (1, 1, 1, 1)
    assert before + 90061 <= plan.next_time <= int(time.time()) + 90061
    assert key in await running.service.keys("timerush:")


async def test_keys_are_unique(start_service):
    running = await start_service()
    keys = [await running.client.register("http://127.0.0.1:9/cb", "x", 60) for _ in range(5)]
    assert len(set(keys)) == 5


@pytest.mark.parametrize("content_type", ["application/json", "text/plain",
                                          "application/x-www-form-urlencoded", ""])
async def test_bodies_are_json_whatever_the_content_type(start_service, content_type):
    running = await start_service()
    status, answer = await running.client.post("/register/", VALID, content_type)
    assert (status, answer["ret"]) == (200, 0)
    assert (await running.service.get(answer["data"]["key"])).action == "timerush"


async def test_the_trailing_slash_is_optional(start_service):
    running = await start_service()
    status, answer = await running.client.post("/register", VALID)
    assert (status, answer["ret"]) == (200, 0)
    status, answer = await running.client.post("/unregister", {"key": answer["data"]["key"]})
    assert (status, answer["ret"]) == (200, 0)


async def test_numeric_strings_are_seconds_as_in_timerush(start_service):
    running = await start_service()
    status, answer = await running.client.post("/register/", {**VALID, "seconds": "120"})
    assert (status, answer["ret"]) == (200, 0)
    plan = await running.service.get(answer["data"]["key"])
    assert (plan.minute, plan.second) == (2, 0)


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "JSON"),
    (b"[1, 2]", "object"),
    ({"callback_data": "x", "seconds": 5}, "callback_cmd"),
    ({"callback_cmd": "http://127.0.0.1:9/cb", "seconds": 5}, "callback_data"),
    ({"callback_cmd": "http://127.0.0.1:9/cb", "callback_data": "x"}, "seconds"),
    ({**VALID, "seconds": 0}, "seconds"),
    ({**VALID, "seconds": -5}, "seconds"),
    ({**VALID, "seconds": 1.5}, "seconds"),
    ({**VALID, "seconds": "soon"}, "seconds"),
    ({**VALID, "seconds": True}, "seconds"),
    ({**VALID, "seconds": MAX_SECONDS + 1}, "seconds"),
    ({**VALID, "callback_cmd": "ftp://127.0.0.1/cb"}, "callback_cmd"),
    ({**VALID, "callback_cmd": "/relative/cb"}, "callback_cmd"),
    ({**VALID, "callback_cmd": 42}, "callback_cmd"),
])
async def test_invalid_registrations_answer_ret_1_naming_the_field(start_service, body, field):
    running = await start_service()
    status, answer = await running.client.post("/register/", body)
    assert (status, answer["ret"]) == (200, 1)
    assert field in answer["msg"]
    assert await running.service.keys("") == []


async def test_unregister_answers_the_seconds_left_and_removes_the_timer(start_service):
    running = await start_service()
    key = await running.client.register("http://127.0.0.1:9/cb", "x", 100)
    answer = await running.client.unregister(key)
    assert answer["ret"] == 0
    assert 98 <= answer["data"]["ttl"] <= 100
    with pytest.raises(ForsunPlanError) as caught:
        await running.service.get(key)
    assert caught.value.code == ErrorCode.NOT_FOUND


async def test_unregister_of_an_unknown_or_removed_key_answers_ttl_0(start_service):
    """As timerush: ``ret`` 0 with ``ttl`` 0 for a key that is no pending timer."""
    running = await start_service()
    key = await running.client.register("http://127.0.0.1:9/cb", "x", 100)
    assert (await running.client.unregister(key))["ret"] == 0
    assert await running.client.unregister(key) == {"ret": 0, "data": {"ttl": 0}}
    assert await running.client.unregister("timerush:never") == {"ret": 0, "data": {"ttl": 0}}
    missing = (await running.client.post("/unregister/", {}))[1]
    assert missing["ret"] == 1 and "key" in missing["msg"]


async def test_unregister_leaves_plans_of_other_actions_alone(start_service):
    running = await start_service()
    await running.service.create(Plan(key="timerush:not-mine", is_time_out=True, second=60,
                                      count=1, action="shell", params={"cmd": "true"}))
    answer = await running.client.unregister("timerush:not-mine")
    assert answer == {"ret": 0, "data": {"ttl": 0}}
    assert (await running.service.get("timerush:not-mine")).action == "shell"


@pytest.mark.parametrize("data", [{"order": 1}, [1, "a"], 42, None, True])
async def test_callback_data_that_is_no_string_is_its_json_text(start_service, data):
    running = await start_service()
    status, answer = await running.client.post("/register/", {**VALID, "callback_data": data})
    assert (status, answer["ret"]) == (200, 0), answer
    plan = await running.service.get(answer["data"]["key"])
    assert plan.params["callback_data"] == json.dumps(data)


async def test_unknown_paths_and_methods_answer_json(start_service, http_session):
    running = await start_service()
    status, answer = await running.client.post("/nothing/", VALID)
    assert status == 404 and answer["ret"] == 1
    async with http_session.get(running.client.base + "/register/") as response:
        assert response.status == 405
        assert (await response.json())["ret"] == 1


async def test_a_due_timer_posts_its_data_and_is_removed(start_service, receiver):
    running = await start_service()
    key = await running.client.register(receiver.url("/cb"), '{"order": 42}', 1)
    due = (await running.service.get(key)).next_time
    [request] = await receiver.wait_async(path="/cb")
    assert request.body == b'{"order": 42}'
    assert "Content-Type" not in request.headers
    assert (request.key, request.ts) == (key, due)
    assert due <= request.arrived < due + 3.0, "fired before its second or far too late"
    await asyncio.sleep(0.2)
    assert await running.service.keys("timerush:") == []


async def test_an_unregistered_timer_never_fires(start_service, receiver):
    running = await start_service()
    key = await running.client.register(receiver.url("/cancelled"), "x", 1)
    kept = await running.client.register(receiver.url("/kept"), "x", 1)
    assert (await running.client.unregister(key))["ret"] == 0
    [request] = await receiver.wait_async(path="/kept")
    await asyncio.sleep(0.3)
    assert request.key == kept
    assert receiver.to("/cancelled") == []


async def test_a_callback_chains_its_follow_up_timer(start_service, receiver):
    running = await start_service()
    receiver.answer("/first", Reply.json({"ret": 0, "data": {
        "seconds": 1, "callback_cmd": receiver.url("/second"), "callback_data": "two"}}))
    key = await running.client.register(receiver.url("/first"), "one", 1)
    [first] = await receiver.wait_async(path="/first")
    [second] = await receiver.wait_async(path="/second")
    assert (first.body, second.body) == (b"one", b"two")
    assert second.key == follow_up_key(key, first.ts)
    assert second.ts == first.ts + 1 or second.ts == first.ts + 2
    assert second.reply == OK


async def test_a_notification_delivered_twice_leaves_one_follow_up(start_service, receiver,
                                                                   make_firing):
    running = await start_service()
    receiver.answer("/first", Reply.json({"ret": 0, "data": {
        "seconds": 60, "callback_cmd": receiver.url("/second"), "callback_data": "two"}}))
    firing = make_firing({"callback_cmd": receiver.url("/first")}, key="timerush:parent")
    action = running.service.action("timerush")
    await action.execute(firing)
    await action.execute(firing)
    [key] = await running.service.keys("timerush:")
    assert key == follow_up_key("timerush:parent", firing.ts)
    plan = await running.service.get(key)
    assert plan.params == {"callback_cmd": receiver.url("/second"), "callback_data": "two"}
    assert plan.minute == 1 and plan.count == 1


@pytest.mark.parametrize("answer", [
    Reply.json({"ret": 0}, status=500),
    Reply.json({"ret": 1, "msg": "busy"}),
    Reply(200, b"<html>ok</html>"),
    Reply.json({"no_ret": 0}),
])
async def test_a_failed_notification_is_retried(start_service, receiver, answer):
    running = await start_service()
    receiver.answer("/flaky", answer, answer, OK)
    key = await running.client.register(receiver.url("/flaky"), "payload", 1)
    requests = await receiver.wait_async(3, path="/flaky")
    assert [r.body for r in requests] == [b"payload"] * 3
    assert {(r.key, r.ts) for r in requests} == {(key, requests[0].ts)}
    assert [r.reply for r in requests] == [answer, answer, OK]
    await asyncio.sleep(0.5)
    assert len(receiver.to("/flaky")) == 3, "an accepted notification was sent again"
    assert running.service.stats.counters["action_retried_count"] == 2


async def test_an_invalid_follow_up_is_a_failure_without_retry(start_service, receiver):
    running = await start_service()
    receiver.answer("/bad", Reply.json({"ret": 0, "data": {"seconds": 5, "callback_data": "x"}}))
    await running.client.register(receiver.url("/bad"), "x", 1)
    await receiver.wait_async(path="/bad")
    await asyncio.sleep(0.8)
    assert len(receiver.to("/bad")) == 1
    assert running.service.stats.counters["action_executed_error_count"] == 1
    assert await running.service.keys("timerush:") == []


async def test_timers_survive_a_restart_of_the_service(start_service, receiver):
    running = await start_service()
    key = await running.client.register(receiver.url("/later"), "x", 2)
    await start_service.stop(running)
    restarted = await start_service()
    assert (await restarted.service.get(key)).params["callback_data"] == "x"
    [request] = await receiver.wait_async(path="/later")
    assert request.key == key
