"""What is special to the timerush action, against a real local receiver."""

from __future__ import annotations

import pytest

from forsun.action import ActionError
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.testing import make_options
from forsun.testing.receiver import Reply
from forsun_frontend_timerush.action import MAX_ANSWER_BYTES, TimerushAction


@pytest.fixture
async def action():
    action = TimerushAction(make_options())
    yield action
    await action.close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "127.0.0.1:8000/cb", "http://", " http://a/"])
def test_a_callback_that_is_not_an_http_url_is_refused_with_1004(action, url):
    with pytest.raises(ForsunPlanError) as caught:
        action.validate({"callback_cmd": url})
    assert caught.value.code == ErrorCode.STORE_FAILED
    assert "params.callback_cmd" in caught.value.message


def test_callback_data_is_optional(action):
    action.validate({"callback_cmd": "https://127.0.0.1/cb"})


async def test_the_body_is_callback_data_verbatim(action, receiver, make_firing):
    data = '{"start": 1700000000, "seconds": 5, "text": "\u00e9t\u00e9"}'
    await action.execute(make_firing({"callback_cmd": receiver.url("/cb"),
                                      "callback_data": data}))
    [request] = receiver.to("/cb")
    assert request.body == data.encode()


async def test_a_refused_connection_is_retried(action, refused_url, make_firing):
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": refused_url}))
    assert caught.value.retry is True
    assert refused_url in str(caught.value)


async def test_a_refused_answer_is_quoted_and_retried(action, receiver, make_firing):
    receiver.answer("/busy", Reply.json({"ret": 7, "msg": "database busy"}))
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": receiver.url("/busy")}))
    assert caught.value.retry is True
    assert "ret is 7" in str(caught.value) and "database busy" in str(caught.value)


async def test_a_password_in_the_url_is_masked_in_messages(action, receiver, make_firing):
    url = receiver.url("/status/503").replace("127.0.0.1", "user:s3cret@127.0.0.1")
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": url}))
    assert "user:******@127.0.0.1" in str(caught.value) and "s3cret" not in str(caught.value)


async def test_an_oversized_answer_is_not_accepted(action, receiver, make_firing):
    receiver.answer("/huge", Reply(200, b'{"ret": 0, "pad": "' + b"x" * MAX_ANSWER_BYTES + b'"}'))
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": receiver.url("/huge")}))
    assert caught.value.retry is True and "longer than" in str(caught.value)


async def test_the_timeout_option_bounds_the_wait(receiver, make_firing):
    action = TimerushAction(make_options(timerush_timeout=0.3))
    try:
        with pytest.raises(ActionError) as caught:
            await action.execute(make_firing({"callback_cmd": receiver.url("/slow?delay=3")}))
    finally:
        await action.close()
    assert caught.value.retry is True and "within 0.3s" in str(caught.value)


async def test_a_follow_up_needs_an_attached_service(action, receiver, make_firing):
    receiver.answer("/chain", Reply.json({"ret": 0, "data": {
        "seconds": 5, "callback_cmd": receiver.url("/next"), "callback_data": "x"}}))
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": receiver.url("/chain")}))
    assert caught.value.retry is False and "no service" in str(caught.value)


@pytest.mark.parametrize("data", [{"seconds": 0}, {"seconds": "0"}, {}, {"other": 1}, None,
                                  [1, 2]])
async def test_data_without_seconds_asks_for_no_follow_up(action, receiver, make_firing, data):
    receiver.answer("/done", Reply.json({"ret": 0, "data": data}))
    await action.execute(make_firing({"callback_cmd": receiver.url("/done")}))


@pytest.mark.parametrize(("data", "field"), [
    ({"seconds": -1, "callback_cmd": "http://127.0.0.1:9/", "callback_data": ""}, "seconds"),
    ({"seconds": "x", "callback_cmd": "http://127.0.0.1:9/", "callback_data": ""}, "seconds"),
    ({"seconds": 5, "callback_data": ""}, "data.callback_cmd"),
    ({"seconds": 5, "callback_cmd": "nowhere", "callback_data": ""}, "data.callback_cmd"),
    ({"seconds": 5, "callback_cmd": "http://127.0.0.1:9/"}, "data.callback_data"),
])
async def test_an_invalid_follow_up_fails_without_retry(action, receiver, make_firing, data,
                                                        field):
    receiver.answer("/chain", Reply.json({"ret": 0, "data": data}))
    with pytest.raises(ActionError) as caught:
        await action.execute(make_firing({"callback_cmd": receiver.url("/chain")}))
    assert caught.value.retry is False
    assert field in str(caught.value)
    assert len(receiver.to("/chain")) == 1


@pytest.mark.parametrize("option", ["timerush_pem", "timerush_ca"])
def test_an_unreadable_certificate_file_names_its_option(tmp_path, option):
    with pytest.raises(ValueError, match=f"--{option.replace('_', '-')}"):
        TimerushAction(make_options(**{option: str(tmp_path / "missing.pem")}))
