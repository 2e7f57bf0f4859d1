"""forsun.testing.receiver, the HTTP server the tests of forsun and its plugins deliver to:
what it records and how it answers, with real connections from urllib and raw sockets."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request

import pytest

from forsun.testing.receiver import HttpReceiver, Reply


def fetch(url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
          method: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read()


def test_each_request_is_recorded_with_its_bytes_and_arrival(http_receiver):
    before = time.time()
    fetch(http_receiver.url("/fire?a=1"), b"\x00raw body\xff",
          {"X-Forsun-Key": "order/7", "X-Forsun-Timestamp": "1700000123"})
    after = time.time()
    [request] = http_receiver.requests
    assert (request.method, request.path, request.query) == ("POST", "/fire", "a=1")
    assert request.body == b"\x00raw body\xff"
    assert (request.key, request.ts, request.argument("a")) == ("order/7", 1_700_000_123, "1")
    assert request.headers["x-forsun-key"] == "order/7", "headers are case-insensitive"
    assert before <= request.arrived <= after
    assert request.late == pytest.approx(request.arrived - 1_700_000_123)
    assert (request.status, request.reply) == (200, Reply())


def test_connections_are_numbered_and_kept_alive(http_receiver):
    first = http.client.HTTPConnection("127.0.0.1", http_receiver.port, timeout=10)
    second = http.client.HTTPConnection("127.0.0.1", http_receiver.port, timeout=10)
    for connection in (first, second, first):
        connection.request("GET", "/")
        connection.getresponse().read()
    first.close()
    second.close()
    assert [request.connection for request in http_receiver.requests] == [1, 2, 1]
    assert http_receiver.connections == 2


def test_scripted_answers_come_in_turn_and_the_last_one_repeats(http_receiver):
    http_receiver.answer("/s", Reply(201, b"one", {"X-Turn": "1"}),
                         lambda request: Reply(202, request.body))
    answers = [fetch(http_receiver.url("/s"), f"body{n}".encode()) for n in range(3)]
    assert answers == [(201, b"one"), (202, b"body1"), (202, b"body2")]
    assert [r.reply for r in http_receiver.to("/s")] == [
        Reply(201, b"one", {"X-Turn": "1"}), Reply(202, b"body1"), Reply(202, b"body2")]


def test_status_paths_and_the_default_answer():
    with HttpReceiver(default=Reply.json({"ret": 0})) as receiver:
        assert fetch(receiver.url("/status/503")) == (503, b"answer 503")
        assert fetch(receiver.url("/anything")) == (200, b'{"ret": 0}')
        assert fetch(receiver.url("/anything"), method="HEAD") == (200, b"")
    assert [r.status for r in receiver.delivered()] == [200, 200]


def test_a_delay_holds_the_answer_back_until_the_receiver_closes(http_receiver):
    began = time.monotonic()
    assert fetch(http_receiver.url("/slow?delay=0.3"))[0] == 200
    assert time.monotonic() - began >= 0.3
    answered: list[tuple[int, bytes]] = []
    waiting = threading.Thread(target=lambda: answered.append(
        fetch(http_receiver.url("/held?delay=60"))))
    waiting.start()
    [held] = http_receiver.wait(path="/held")
    assert held.reply is None
    began = time.monotonic()
    http_receiver.close()
    waiting.join(10)
    assert answered == [(200, b"")] and time.monotonic() - began < 10
    assert held.reply == Reply()


def test_waiting_for_requests_that_do_not_come_fails_the_test(http_receiver):
    fetch(http_receiver.url("/one"))
    assert [r.path for r in http_receiver.wait(path="/one")] == ["/one"]
    with pytest.raises(pytest.fail.Exception, match="1 of 2 requests to /one arrived"):
        http_receiver.wait(2, path="/one", timeout=0.2)


async def test_a_coroutine_waits_while_its_event_loop_runs(http_receiver):
    sender = threading.Timer(0.2, fetch, (http_receiver.url("/later"),))
    sender.start()
    [request] = await http_receiver.wait_async(path="/later")
    assert request.status == 200
