"""Security and safe defaults against real forsund processes: the shared token over HTTP and
Thrift, old clients without a token, secrets kept out of logs and ``info``, loopback
defaults, and plan data never reaching a shell outside the shell action."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import re
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from forsun.client import AsyncClient, Client
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.frontends.security import (
    TOKEN_PARAM,
    is_loopback,
    token_accepted,
    warn_if_exposed,
)
from forsun.idl import load_idl
from forsun.options import Option, Options
from forsun.testing.options import declared_options, make_options

TOKEN = "s3cret-T0ken_~!"
SAFE = ["--no-action-shell-enabled"]


def http(url: str, method: str = "GET", body: Any = None,
         token: str | None = None) -> tuple[int, Message, dict[str, Any]]:
    """(status, headers, JSON reply) of one request; HTTP errors are replies too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def thrift_client(port: int) -> Any:
    """A bare thriftpy2 client of the IDL: what an existing client does, knowing nothing of
    tokens."""
    from thriftpy2.rpc import make_client

    return make_client(load_idl().Forsun, "127.0.0.1", port, timeout=10_000)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, module_forsunds):
    """forsund whose token comes from the INI file (top-level key ``token``)."""
    workdir = tmp_path_factory.mktemp("guarded")
    conf = workdir / "forsun.conf"
    conf.write_text(f"token = {TOKEN}\n", encoding="utf-8")
    return module_forsunds.start("--conf", str(conf), "--driver-mem-store-file", "", *SAFE,
                                 workdir=workdir)


@pytest.fixture(scope="module")
def open_server(module_forsunds):
    return module_forsunds.start("--driver-mem-store-file", "", *SAFE)


# -- HTTP -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/info", None),
    ("GET", "/v1/keys?prefix=", None),
    ("GET", "/v1/plan?key=k", None),
    ("DELETE", "/v1/plan?key=k", None),
    ("PUT", "/v1/plan", {"key": "k", "seconds": 60, "action": "http",
                         "params": {"url": "http://127.0.0.1:9/"}}),
    ("GET", "/v1/no/such/path", None),
])
def test_http_without_the_token_is_401_with_the_envelope(guarded, token, method, path, body):
    status, headers, reply = http(guarded.http_url + path, method, body, token)
    assert status == 401
    assert reply["errcode"] == ErrorCode.UNKNOWN and reply["data"] == {}
    assert "Authorization: Bearer" in reply["errmsg"]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in reply["errmsg"]


def test_http_with_the_token_works(guarded):
    plan = {"key": "tok:http", "seconds": 600, "action": "http",
            "params": {"url": "http://127.0.0.1:9/"}}
    status, _, reply = http(guarded.http_url + "/v1/plan", "PUT", plan, TOKEN)
    assert (status, reply["errcode"]) == (200, 0), reply
    status, _, reply = http(guarded.http_url + "/v1/plan?key=tok:http", token=TOKEN)
    assert reply["data"]["key"] == "tok:http"
    status, _, reply = http(guarded.http_url + "/v1/plan?key=tok:http", "DELETE", token=TOKEN)
    assert (status, reply["errcode"]) == (200, 0)


def test_http_scheme_is_case_insensitive(guarded):
    request = urllib.request.Request(guarded.http_url + "/v1/keys")
    request.add_header("Authorization", f"bearer   {TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.loads(answer.read())["errcode"] == 0


@pytest.mark.parametrize("path", ["/v1/ping", "/v1/openapi.json"])
def test_ping_and_the_api_description_need_no_token(guarded, path):
    status, _, reply = http(guarded.http_url + path)
    assert status == 200
    assert reply.get("errcode", 0) == 0


def test_the_api_description_declares_the_bearer_scheme(guarded):
    _, _, document = http(guarded.http_url + "/v1/openapi.json")
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    put = document["paths"]["/v1/plan"]["put"]
    assert {"bearerToken": []} in put["security"] and "401" in put["responses"]
    assert "security" not in document["paths"]["/v1/ping"]["get"]


def test_http_refusals_are_counted_as_errors(guarded):
    before = int(http(guarded.http_url + "/v1/info", token=TOKEN)[2]["data"]
                 ["http_requested_error_count"])
    http(guarded.http_url + "/v1/info", token="nope")
    after = int(http(guarded.http_url + "/v1/info", token=TOKEN)[2]["data"]
                ["http_requested_error_count"])
    assert after == before + 1


# -- Thrift -----------------------------------------------------------------------------------


CALLS = {
    "create_timeout": lambda c: c.create_timeout("tok:thrift", 600, action="http",
                                                 params={"url": "http://127.0.0.1:9/"}),
    "create": lambda c: c.create("tok:fixed", 0, 0, 0, 1, -1, action="http",
                                 params={"url": "http://127.0.0.1:9/"}),
    "get": lambda c: c.get("tok:thrift"),
    "remove": lambda c: c.remove("tok:thrift"),
    "get_keys": lambda c: c.get_keys("tok:"),
    "get_time": lambda c: c.get_time(0),
    "get_current": lambda c: c.get_current(),
    "info": lambda c: c.info(),
}


@pytest.mark.parametrize("token", ["", "wrong"])
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_thrift_without_the_token_is_refused_with_1001(guarded, call, token):
    with Client("127.0.0.1", guarded.port, token=token) as client:
        with pytest.raises(ForsunPlanError) as refused:
            call(client)
        assert refused.value.code == ErrorCode.UNKNOWN
        assert "--token" in refused.value.message and TOKEN not in refused.value.message
        assert client.ping() == 0, "the connection survives a refusal"


def test_thrift_ping_needs_no_token(guarded):
    with Client("127.0.0.1", guarded.port) as client:
        assert client.ping() == 0


def test_thrift_client_with_the_token_can_do_everything(guarded):
    with Client("127.0.0.1", guarded.port, token=TOKEN) as client:
        results = {name: call(client) for name, call in CALLS.items()}
    assert results["create_timeout"].key == "tok:thrift"
    assert results["remove"].key == "tok:thrift"
    assert "tok:fixed" in results["get_keys"]
    assert "mem_rss" in results["info"]


async def test_async_client_with_the_token(guarded):
    async with AsyncClient("127.0.0.1", guarded.port, token=TOKEN) as client:
        plan = await client.create_timeout("tok:async", 600, action="http",
                                           params={"url": "http://127.0.0.1:9/"})
        assert (await client.get("tok:async")).key == plan.key
    async with AsyncClient("127.0.0.1", guarded.port) as client:
        with pytest.raises(ForsunPlanError) as refused:
            await client.get("tok:async")
    assert refused.value.code == ErrorCode.UNKNOWN


def test_an_existing_client_authenticates_creates_with_the_params_entry(guarded):
    client = thrift_client(guarded.port)
    try:
        params = {"url": "http://127.0.0.1:9/", TOKEN_PARAM: TOKEN}
        created = client.createTimeout("tok:legacy", 600, -1, -1, -1, -1, -1, 1, "http",
                                       params)
        assert created.params == {"url": "http://127.0.0.1:9/"}
        with pytest.raises(load_idl().ForsunPlanError) as refused:
            client.createTimeout("tok:legacy2", 600, -1, -1, -1, -1, -1, 1, "http",
                                 {"url": "http://127.0.0.1:9/", TOKEN_PARAM: "wrong"})
        assert refused.value.code == ErrorCode.UNKNOWN
    finally:
        client.close()
    with Client("127.0.0.1", guarded.port, token=TOKEN) as client:
        assert client.get("tok:legacy").params == {"url": "http://127.0.0.1:9/"}


def test_without_a_token_old_clients_work_and_the_params_entry_is_stripped(open_server):
    client = thrift_client(open_server.port)
    try:
        created = client.createTimeout("open:1", 600, -1, -1, -1, -1, -1, 1, "http",
                                       {"url": "http://127.0.0.1:9/", TOKEN_PARAM: "x"})
        assert created.params == {"url": "http://127.0.0.1:9/"}
        assert client.get("open:1").key == "open:1"
        assert client.getKeys("open:") == ["open:1"]
    finally:
        client.close()
    with Client("127.0.0.1", open_server.port, token="ignored-here") as tokened:
        assert tokened.get("open:1").params == {"url": "http://127.0.0.1:9/"}
    status, _, reply = http(open_server.http_url + "/v1/keys?prefix=open:")
    assert (status, reply["data"]) == (200, ["open:1"])


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_never_reach_info_or_the_log(guarded):
    with Client("127.0.0.1", guarded.port, token=TOKEN) as client:
        info = client.info()
    with Client("127.0.0.1", guarded.port, token="a-wrong-guess") as client, \
            pytest.raises(ForsunPlanError):
        client.info()
    http(guarded.http_url + "/v1/info", token="another-wrong-guess")
    logs = guarded.log_text() + (guarded.log_path.parent / "stderr.log").read_text()
    for secret in (TOKEN, "a-wrong-guess", "another-wrong-guess"):
        assert secret not in logs
        assert not any(secret in value for value in info.values())
    assert "thrift info refused: a wrong token" in logs


def test_secret_options_are_masked_in_public_values():
    """The core's token and a plugin's secret option alike (the bundled plugins' secrets
    are checked with the plugins installed: tests/test_plugin_secrets.py)."""
    password = Option("driver-example-password", section="store", secret=True, default="")
    options = Options((*declared_options(), password),
                      {"token": TOKEN, "driver_example_password": "example-pa55word"})
    public = options.public()
    assert public["token"] == public["driver_example_password"] == "******"
    assert TOKEN not in json.dumps(public) and "example-pa55word" not in json.dumps(public)
    assert make_options(token="").public()["token"] == ""


@pytest.mark.parametrize("token", ["with space", "tökén", "tab\there"])
def test_a_token_an_http_header_cannot_carry_is_refused_at_start(forsunds, token):
    with pytest.raises(RuntimeError, match="--token: use printable ASCII"):
        forsunds.start("--token", token, "--driver-mem-store-file", "")


def test_token_comparison():
    assert token_accepted("", None) and token_accepted("", "anything")
    assert token_accepted(TOKEN, TOKEN)
    assert not token_accepted(TOKEN, None)
    assert not token_accepted(TOKEN, "")
    assert not token_accepted(TOKEN, TOKEN[:-1])
    assert not token_accepted("abc", "abc\udcff")


# -- listening addresses ----------------------------------------------------------------------


def test_front_ends_listen_on_loopback_by_default():
    options = make_options()
    assert options.bind == "127.0.0.1"
    assert options.http == ""


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("", False), ("0.0.0.0", False), ("::", False),
    ("10.1.2.3", False), ("example.com", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_without_a_token_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="forsun.frontends.security"):
        warn_if_exposed("--bind", "0.0.0.0", "")
        warn_if_exposed("--http", "", "")
        warn_if_exposed("--bind", "0.0.0.0", TOKEN)
        warn_if_exposed("--http", "127.0.0.1", "")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("--bind listens on 0.0.0.0 without --token")
    assert messages[1].startswith("--http listens on every interface without --token")


def test_loopback_listeners_do_not_warn(open_server, guarded):
    for daemon in (open_server, guarded):
        assert "without --token" not in daemon.log_text()


# -- plan data and shells ---------------------------------------------------------------------


def plugin_package_dirs() -> set[Path]:
    """Directories of the forsun package and of every installed plugin's top package."""
    names = {"forsun"} | {ep.value.split(":")[0].split(".")[0]
                          for ep in importlib.metadata.entry_points(group="forsun")}
    dirs = set()
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            dirs.add(Path(spec.origin).parent)
    return dirs


def test_only_the_shell_action_starts_a_shell():
    """No module of the core or of any installed plugin but the shell action hands text to
    a shell."""
    shell_call = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess_shell\("
                            r"|[\"']/bin/(ba)?sh[\"']")
    folders = plugin_package_dirs()
    shell_action = [path for folder in folders if folder.name == "forsun_action_shell"
                    for path in folder.rglob("*.py")]
    assert any(shell_call.search(path.read_text()) for path in shell_action), \
        "the pattern must recognise the shell action's own shell"
    sources = [path for folder in folders if folder.name != "forsun_action_shell"
               for path in folder.rglob("*.py")]
    assert len(sources) > 40, "no plugin sources found"
    offenders = [str(path) for path in sources
                 if shell_call.search(path.read_text(errors="replace"))]
    assert offenders == []


def test_a_hostile_key_reaches_the_shell_as_data(tmp_path, forsunds):
    out = tmp_path / "out.txt"
    daemon = forsunds.start("--driver-mem-store-file", "")
    key = "k$(touch pwned)`touch pwned2`;touch pwned3 'q\""
    with Client("127.0.0.1", daemon.port) as client:
        client.create_timeout(key, 1, action="shell",
                              params={"cmd": f'printf "%s\\n" "$FORSUN_KEY" >> {out}',
                                      "cwd": str(tmp_path)})
    deadline = time.monotonic() + 6
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.stop()
    assert out.read_text() == key + "\n"
    assert not list(tmp_path.glob("pwned*"))


def test_passwords_of_a_failing_http_action_stay_out_of_the_log(forsunds, http_receiver):
    daemon = forsunds.start("--driver-mem-store-file", "", *SAFE)
    url = http_receiver.url("/status/404").replace("127.0.0.1", "alice:url-pa55@127.0.0.1")
    with Client("127.0.0.1", daemon.port) as client:
        client.create_timeout("pw", 1, action="http", params={
            "url": url, "auth_username": "bob", "auth_password": "param-pa55"})
    deadline = time.monotonic() + 8
    while "HTTP 404" not in daemon.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    daemon.stop()
    logs = daemon.log_text()
    assert "HTTP 404" in logs, "the failure was not logged"
    assert "url-pa55" not in logs and "param-pa55" not in logs


def test_a_disabled_shell_action_refuses_shell_plans(open_server):
    with Client("127.0.0.1", open_server.port) as client, \
            pytest.raises(ForsunPlanError) as refused:
        client.create_timeout("shell:off", 1, action="shell", params={"cmd": "true"})
    assert refused.value.code == ErrorCode.UNKNOWN_ACTION
    assert "disabled" in refused.value.message
