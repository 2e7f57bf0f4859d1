"""Schemathesis against the OpenAPI document a real forsund serves (``/v1/openapi.json``;
loaded from :func:`forsun.frontends.http_routes.openapi_document`, the same document, so
that the operations are known when tests are collected): data that fits the schema and
data that does not, for every operation. No reply may be a
5xx, every reply but the document itself is the ``{errcode, errmsg, data}`` envelope with
a protocol code (``GET /v1/plans`` answers NDJSON: a plan per line), every reply matches
its documented schema, and forsund stays up.

forsund runs with the shell action allow-listed to ``true`` and every other action plugin
blocked, so generated plans can run nothing. Needs ``schemathesis`` (root dev group).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings

from forsun.errors import ErrorCode
from forsun.frontends.http_routes import openapi_document
from forsun.frontends.openapi import CRONTAB, NDJSON
from forsun.testing.process import ForsundProcess
from forsun.testing.services import in_ci

try:
    import requests
    import schemathesis
    from schemathesis.checks import negative_data_rejection
    from schemathesis.config import SchemathesisConfig
except ImportError:  # a test dependency of the root dev group
    if in_ci():
        raise
    pytest.skip("schemathesis is not installed", allow_module_level=True)

#: Examples per operation and generation phase: keeps the whole module under a minute.
MAX_EXAMPLES = 100
CODES = {0, *(int(code) for code in ErrorCode)}

# A crontab body is text: send generated strings as they are.
schemathesis.serializer.alias(CRONTAB, "text/plain")
#: Operations answering something else than JSON (``Route.raw``).
RAW_PATHS = {path for path, operations in openapi_document()["paths"].items()
             if any("application/json" not in op["responses"]["200"]["content"]
                    for op in operations.values())}
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=SchemathesisConfig.from_dict({"generation": {"mode": "all",
                                                        "max-examples": MAX_EXAMPLES}}))


@pytest.fixture(scope="module")
def forsund(harmless_forsund) -> ForsundProcess:
    return harmless_forsund


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_reply_is_an_envelope_and_never_a_server_error(case, forsund):
    response = case.call(base_url=forsund.http_url, timeout=10)
    assert response.status_code < 500, response.text
    if (response.headers.get("content-type") or [""])[0] == NDJSON:  # GET /v1/plans
        assert response.status_code == 200  # (empty when the store holds no plan)
        assert all(isinstance(json.loads(line), dict) for line in response.text.splitlines())
        assert forsund.proc.poll() is None
        return
    if case.path in RAW_PATHS and response.status_code == 200:
        assert response.text  # the Prometheus text: test_insight parses it
        return
    body = response.json()
    if case.path != "/v1/openapi.json":
        assert set(body) == {"errcode", "errmsg", "data"}, body
        assert body["errcode"] in CODES
        assert (body["errcode"] == 0) == (response.status_code == 200 and body["errmsg"] == "")
    # A request the service refuses is answered 200 with its errcode (the original's
    # contract), so "negative data must get a 4xx" does not apply.
    case.validate_response(response, excluded_checks=[negative_data_rejection])
    assert forsund.proc.poll() is None


def test_the_document_tested_is_the_one_served(forsund):
    served = requests.get(f"{forsund.http_url}/v1/openapi.json", timeout=10).json()
    assert served == json.loads(json.dumps(openapi_document()))


def test_the_server_logged_no_unexpected_error(forsund):
    """Runs after the generated requests: none of them raised inside forsund."""
    assert "Traceback" not in forsund.log_text()
