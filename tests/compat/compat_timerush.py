"""Item 6: the timerush front end answers as timerush did. There is no original forsun
counterpart, so the reference is timerush's own behaviour (its ``/unregister/`` answered
``ret`` 0 with ``ttl`` 0 for a key it did not hold, and it POSTed ``callback_data`` as
given): ``/unregister/`` of an unknown or already fired key, and a ``callback_data`` that is
not a string, sent as its JSON text.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from original import ours_bin, start_server
from targets import HttpReceiver

from forsun.testing.services import free_port, reachable


@pytest.fixture(scope="module")
def timerush(tmp_path_factory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("timerush")
    port = free_port()
    server = start_server("ours", [ours_bin("forsund"),
                                   f"--driver-mem-store-file={workdir / 'forsun.db'}",
                                   "--timerush-listen", f"127.0.0.1:{port}"], workdir)
    try:
        deadline = time.monotonic() + 20  # plugins' front ends start after the built-ins
        while not reachable("127.0.0.1", port, 0.2):
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_unregister_of_an_unknown_key(timerush):
    assert post(timerush, "/unregister/", {"key": "timerush:never"}) == \
        {"ret": 0, "data": {"ttl": 0}}


def test_unregister_of_a_fired_timer(timerush, receiver):
    answer = post(timerush, "/register/", {"callback_cmd": receiver.url("/fired"),
                                           "callback_data": "x", "seconds": 1})
    receiver.wait_for("/fired")
    assert post(timerush, "/unregister/", {"key": answer["data"]["key"]}) == \
        {"ret": 0, "data": {"ttl": 0}}


@pytest.mark.parametrize("data", [{"order": 42}, [1, "a"], 7])
def test_callback_data_that_is_no_string(timerush, receiver, data):
    path = f"/data-{type(data).__name__}"
    answer = post(timerush, "/register/", {"callback_cmd": receiver.url(path),
                                           "callback_data": data, "seconds": 1})
    assert answer["ret"] == 0, answer
    [request] = receiver.wait_for(path)
    assert request.body == json.dumps(data).encode()
