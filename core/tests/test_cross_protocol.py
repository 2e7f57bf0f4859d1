"""A plan written over one front end reads the same over the other (one real forsund)."""

from __future__ import annotations

import pytest

from forsun.client import Client
from forsun.plan import Plan

#: ForsunPlan (Thrift) carries every field but created_time.
THRIFT_FIELDS = [name for name in Plan().to_dict() if name != "created_time"]


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start("--driver-mem-store-file", "")


def http(forsund, method: str, path: str, body: object | None = None) -> dict:
    return forsund.api(method, path, body)


def same_fields(over_http: dict, over_thrift: Plan) -> None:
    thrift = over_thrift.to_dict()
    assert {name: over_http[name] for name in THRIFT_FIELDS} == \
        {name: thrift[name] for name in THRIFT_FIELDS}


def test_delay_plan_created_over_http_reads_the_same_over_thrift(forsund):
    created = http(forsund, "PUT", "/v1/plan", {
        "key": "cross:http", "seconds": 30, "minute": 2, "count": 3, "action": "http",
        "params": {"url": "http://127.0.0.1:1/cb", "method": "post"}})
    with Client("127.0.0.1", forsund.port) as client:
        same_fields(created, client.get("cross:http"))
    assert created["is_time_out"] is True and created["second"] == 30
    assert created["count"] == 3 and created["params"]["method"] == "post"


def test_fixed_plan_created_over_thrift_reads_the_same_over_http(forsund):
    with Client("127.0.0.1", forsund.port) as client:
        created = client.create("cross:thrift", 5, minute=30, hour=4, week=1, action="shell",
                                params={"cmd": "true", "env": "a=1;b=2"})
    read = http(forsund, "GET", "/v1/plan?key=cross:thrift")
    same_fields(read, created)
    assert read["is_time_out"] is False and (read["hour"], read["week"]) == (4, 1)
    keys = http(forsund, "GET", "/v1/keys?prefix=cross:")
    assert keys == ["cross:http", "cross:thrift"]
