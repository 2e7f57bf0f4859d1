"""The http action inside a real forsund, configured from the command line."""

from __future__ import annotations

from forsun.testing.process import ForsundProcess


def put_plan(daemon: ForsundProcess, key: str, params: dict[str, str]) -> dict:
    return daemon.call("PUT", "/v1/plan", {"key": key, "seconds": 1, "count": 1,
                                           "action": "http", "params": params})


def test_forsund_calls_the_url_when_due(tmp_path, forsunds, http_receiver):
    daemon = forsunds.start("--driver-mem-store-file", str(tmp_path / "db"),
                            "--action-http-user-agent", "e2e-agent/1")
    created = put_plan(daemon, "order-1", {
        "url": http_receiver.url("/ok"), "method": "put", "body": "paid"})
    refused = put_plan(daemon, "order-2", {"url": http_receiver.url("/ok"), "method": "fetch"})
    http_receiver.wait(timeout=10)
    daemon.stop()
    assert created["errcode"] == 0
    assert refused["errcode"] == 1004 and "params.method" in refused["errmsg"]
    [request] = http_receiver.requests
    assert (request.method, request.path, request.body) == ("PUT", "/ok", b"paid")
    assert request.headers["X-Forsun-Key"] == "order-1"
    assert request.headers["X-Forsun-Timestamp"] == str(created["data"]["next_time"])
    assert request.headers["User-Agent"] == "e2e-agent/1"
