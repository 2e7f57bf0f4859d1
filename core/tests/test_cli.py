"""The ``forsun`` console script (DESIGN 3.4), run as a real process against a real forsund.

One forsund serves the whole module (in a zone with no DST and a non-zero offset, so a client
that reads times in UTC or local time is caught); each test uses keys of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from forsun import __version__
from forsun.plan import Plan
from forsun.testing.services import free_port, in_ci

ZONE = "Asia/Shanghai"
FORSUN = Path(sys.executable).with_name("forsun")
#: Keys the original's ``forsun info`` prints (DESIGN 3.2).
ORIGINAL_INFO_KEYS = (
    "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
    "mem_vms", "current_time", "stores", "current_store", "actions", "extensions",
    "bind_port", "http_bind_port", "connecting_count", "connected_count",
    "requesting_count", "requested_count", "requested_error_count", "http_connecting_count",
    "http_connected_count", "http_requesting_count", "http_requested_count",
    "http_requested_error_count", "created_count", "create_timeouted_count",
    "removed_count", "plan_count", "timeout_handling_count", "timeout_handled_count",
    "action_executing_count", "action_executed_count", "action_executed_error_count",
    "action_retried_count", "timer_loop_count", "timer_loop_ready_error_count",
)


@pytest.fixture(scope="module")
def forsund(module_forsunds):
    return module_forsunds.start("--timezone", ZONE)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def cli_env(home):
    # As a user runs it: stdout buffered, no address from the environment.
    unset = {"FORSUN_HOST", "FORSUN_PORT", "PYTHONUNBUFFERED"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(HOME=str(home), TERM="dumb", INPUTRC=os.devnull)
    return env


@pytest.fixture(scope="module")
def forsun(forsund, cli_env):
    """Run ``forsun --port <forsund> *args`` (stdin from ``stdin``); the finished process."""

    def run(*args: str, stdin: str = "", port: int | None = None,
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(FORSUN), "--port", str(port or forsund.port), *args],
                              input=stdin, capture_output=True, text=True, env=cli_env,
                              timeout=30)

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert (result.returncode, result.stderr) == (0, ""), result
    return result.stdout


def ok_json(result: subprocess.CompletedProcess[str]):
    return json.loads(ok(result))


def failed(result: subprocess.CompletedProcess[str], status: int, pattern: str) -> str:
    """Assert the command failed with ``status``, printed nothing on stdout and an error
    matching ``pattern`` on stderr; the stderr text."""
    assert result.returncode == status, result
    assert result.stdout == "", result
    assert re.fullmatch(pattern, result.stderr.strip(), re.DOTALL), result.stderr
    return result.stderr


def field(text: str, name: str) -> str:
    """The value shown for ``name`` in a human-readable plan or info listing."""
    match = re.search(rf"^\s*{re.escape(name)}\s{{2,}}(.*)$", text, re.MULTILINE)
    assert match, f"{name} not in {text!r}"
    return match.group(1)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, ZoneInfo(ZONE)).isoformat()


# -- the console script ------------------------------------------------------------------------


def test_console_script_is_installed():
    assert FORSUN.is_file(), f"{FORSUN} missing: is the forsun distribution installed?"
    result = subprocess.run([str(FORSUN), "--version"], capture_output=True, text=True,
                            timeout=30)
    assert (result.returncode, result.stdout.strip()) == (0, f"forsun {__version__}")


def test_module_runs_as_a_script(forsund, cli_env):
    result = subprocess.run([sys.executable, "-m", "forsun.commands.forsun", "--port",
                             str(forsund.port), "--json", "ls", "no-such-prefix:"],
                            capture_output=True, text=True, env=cli_env, timeout=30)
    assert ok_json(result) == []


# -- set and get -------------------------------------------------------------------------------


def test_the_design_example_verbatim(forsun):
    before = int(time.time())
    shown = ok(forsun("-v", "set job1 */5/1 * * * * * shell 'cmd=ls'"))
    assert shown.splitlines()[0] == "set job1 */5/1 * * * * * shell 'cmd=ls'"
    assert field(shown, "key") == "job1"
    assert field(shown, "is_time_out") == "True"
    assert field(shown, "count") == "1"
    plan = ok_json(forsun("--json", "get", "job1"))
    # The fields the original's set sent: 0 for no interval (week: -1).
    assert (plan["second"], plan["minute"], plan["week"]) == (5, 0, -1)
    assert (plan["is_time_out"], plan["count"], plan["action"]) == (True, 1, "shell")
    assert plan["params"] == {"cmd": "ls"}
    assert before + 5 <= plan["next_time"] <= time.time() + 6


def test_get_shows_every_field_and_the_set_line(forsun):
    ok(forsun("set get:all 0 30 10 * * 1 http 'url=http://127.0.0.1:9/x;method=post'"))
    shown = ok(forsun("-v", "get", "get:all"))
    lines = shown.splitlines()
    assert lines[0] == "set get:all 0 30 10 * * 1 http 'url=http://127.0.0.1:9/x;method=post'"
    assert [line.split()[0] for line in lines[1:]] == list(Plan().to_dict())
    assert field(shown, "week") == "1"
    assert field(shown, "is_time_out") == "False"
    assert field(shown, "status") == "0 (waiting)"
    assert json.loads(field(shown, "params")) == {"url": "http://127.0.0.1:9/x",
                                                  "method": "post"}
    assert field(shown, "last_timeout") == "-"
    next_time = int(field(shown, "next_time").split()[0])
    assert field(shown, "next_time") == f"{next_time}  {iso(next_time)}"
    assert iso(next_time).endswith("10:30:00+08:00")


@pytest.mark.parametrize(("words", "action", "params"), [
    (["set bare:sh */3600 * * * * * sh 'echo a;b'"], "shell", {"cmd": "echo a;b"}),
    (["set bare:bash */3600 * * * * * bash 'cmd=true'"], "shell", {"cmd": "true"}),
    (["set bare:http */3600 * * * * * http 'http://127.0.0.1:9/?a=1'"],
     "http", {"url": "http://127.0.0.1:9/?a=1"}),
    # Several arguments are the words of the command, already split by the shell.
    (["set", "bare:words", "*/3600/0", "*", "*", "*", "*", "*", "shell",
      "cmd=echo 'a b';cwd=/tmp"], "shell", {"cmd": "echo 'a b'", "cwd": "/tmp"}),
], ids=["sh-bare-cmd", "bash-alias", "http-bare-url", "argv-words"])
def test_set_aliases_bare_strings_and_argv_words(forsun, words, action, params):
    plan = ok_json(forsun("--json", *words))
    assert (plan["action"], plan["params"], plan["second"]) == (action, params, 3600)


def test_rm_shows_the_removed_plan_then_get_fails(forsun):
    ok(forsun("set rm:me */3600 * * * * * sh true"))
    assert field(ok(forsun("-v", "rm rm:me")), "key") == "rm:me"
    failed(forsun("--json", "get", "rm:me"), 1, r"error 1003: .*rm:me.*")


# -- listing -----------------------------------------------------------------------------------


def test_ls_with_and_without_prefix(forsun):
    ok(forsun(stdin="set ls:b */3600 * * * * * sh true\nset ls:a */3600 * * * * * sh true\n"
                    "set lsx */3600 * * * * * sh true\n"))
    assert ok(forsun("-v", "ls ls:")) == "ls:a\nls:b\n"
    everything = ok_json(forsun("--json", "ls"))
    assert {"ls:a", "ls:b", "lsx"} <= set(everything)
    assert everything == sorted(everything)
    assert ok(forsun("-v", "ls", "ls:none:")) == "(no plans)\n"


def test_time_reads_dates_in_the_servers_zone(forsun):
    plan = ok_json(forsun("--json", "set time:ten 0 0 10 * * * sh true"))
    due = plan["next_time"]
    local = datetime.fromtimestamp(due, ZoneInfo(ZONE))
    assert (local.hour, local.minute, local.second) == (10, 0, 0)
    date = local.strftime("%Y-%m-%d 10:00:00")
    shown = ok(forsun("-v", "time", date))
    assert re.fullmatch(rf"\d+ plan\(s\) due at {re.escape(iso(due))} \({due}\)",
                        shown.splitlines()[0]), shown
    header, *rows = shown.splitlines()[1:]
    assert header.split() == ["key", "action", "schedule", "next_time", "fired", "status"]
    assert any(row.split()[:3] == ["time:ten", "shell", "0"] and iso(due) in row
               for row in rows), shown
    # The same second given as unquoted words, as a timestamp, as ISO 8601 with an offset.
    for args in (date.split(), [str(due)], [local.astimezone(ZoneInfo("UTC")).isoformat()]):
        keys = [p["key"] for p in ok_json(forsun("--json", "time", *args))]
        assert "time:ten" in keys, args


def test_current(forsun):
    plans = ok_json(forsun("--json", "current"))
    assert isinstance(plans, list)
    assert all(set(p) == set(Plan().to_dict()) for p in plans)
    first = ok(forsun("-v", "current")).splitlines()[0]
    assert re.fullmatch(r"no plans due now|\d+ plan\(s\) due now", first), first


# -- info, version, help -----------------------------------------------------------------------


def test_info_sections(forsun, forsund):
    shown = ok(forsun("-v", "info"))
    lines = shown.splitlines()
    sections = [line for line in lines if line and not line.startswith(" ")]
    assert sections == ["server", "plugins", "counters"]
    server = lines[lines.index("server"):lines.index("plugins")]
    plugins = lines[lines.index("plugins"):lines.index("counters")]
    counters = lines[lines.index("counters"):]
    assert field("\n".join(server), "timezone") == ZONE
    assert field("\n".join(server), "bind_port") == f"127.0.0.1:{forsund.port}"
    assert field("\n".join(server), "forsun_version") == __version__
    assert {"shell", "http"} <= set(field("\n".join(plugins), "actions").split(", "))
    assert "mem" in field("\n".join(plugins), "stores").split(", ")
    assert field("\n".join(plugins), "extensions") == "(none)"
    assert int(field("\n".join(counters), "created_count")) >= 0
    # Values line up in one column across the sections.
    starts = {len(line) - len(line.lstrip(" ").split(None, 1)[1])
              for line in lines if line.startswith("  ") and len(line.split()) > 1}
    assert len(starts) == 1, shown


def test_info_json_has_every_key_the_original_printed(forsun):
    info = ok_json(forsun("--json", "info"))
    assert set(ORIGINAL_INFO_KEYS) <= set(info)
    assert info["timezone"] == ZONE
    assert all(isinstance(value, str) for value in info.values())


def test_version(forsun):
    shown = ok(forsun("-v", "version"))
    assert shown.splitlines()[0] == f"client  forsun {__version__}"
    assert shown.splitlines()[1].startswith(f"server  forsun {__version__} (python ")
    assert ok_json(forsun("--json", "version"))["server"] == __version__


def test_help_needs_no_server(forsun):
    unreachable = free_port()
    shown = ok(forsun("-v", "help", port=unreachable))
    for usage in ("set KEY S M H D MON W ACTION 'PARAMS'", "get KEY", "rm KEY", "ls [PREFIX]",
                  "current", 'time [TIMESTAMP | "Y-m-d H:M:S"]', "info", "version", "exit"):
        assert usage in shown
    assert ok(forsun("-v", "help set", port=unreachable)).startswith("set KEY S M H D MON W")
    assert set(ok_json(forsun("--json", "help", port=unreachable))) >= {"set", "get", "exit"}


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "status", "pattern"), [
    ("get no:such:key", 1, r"error 1003: .*no:such:key.*"),
    ("set bad:field x * * * * * sh true", 1, r"error 1004: second: .*"),
    ("set bad:action */5 * * * * * nosuch 'a=b'", 1, r"error 1006: .*nosuch.*"),
    ("frobnicate", 2, r"error: unknown command 'frobnicate' \(type help\)"),
    ("get a b", 2, r"error: usage: get KEY"),
    ("time tomorrow", 2, r"error: time: 'tomorrow' is neither .*"),
])
def test_errors_and_exit_status(forsun, line, status, pattern):
    failed(forsun("-v", line), status, pattern)


def test_unknown_option_is_a_usage_error(forsun):
    result = forsun("--frobnicate", "ls")
    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr


def test_no_server(forsun):
    port = free_port()
    failed(forsun("--json", "ls", port=port), 3,
           rf"error: cannot reach forsund at 127\.0\.0\.1:{port}: .*")


def test_a_reader_gone_away_is_no_connection_error(forsund, cli_env):
    read, write = os.pipe()
    os.close(read)  # like `forsun info | head -0`: nobody reads stdout
    try:
        result = subprocess.run([str(FORSUN), "--port", str(forsund.port), "info"],
                                stdout=write, stderr=subprocess.PIPE, text=True, env=cli_env,
                                timeout=30)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (1, "")


# -- the prompt --------------------------------------------------------------------------------


def test_piped_lines_run_without_a_prompt(forsun):
    result = forsun("-v", stdin="set pipe:1 */3600 * * * * * sh true\nget pipe:missing\n\n"
                                "ls pipe:\n")
    assert result.returncode == 1
    assert "forsun 127.0.0.1" not in result.stdout
    assert field(result.stdout, "key") == "pipe:1"
    assert result.stdout.endswith("\npipe:1\n")
    assert result.stderr == "error 1003: plan 'pipe:missing' not found\n"


def pexpect_module():
    try:
        import pexpect
    except ImportError:
        if in_ci():
            pytest.fail("pexpect is not installed (a dev dependency)", pytrace=False)
        pytest.skip("pexpect is not installed")
    return pexpect


def test_interactive_prompt(forsund, cli_env, home):
    pexpect = pexpect_module()
    prompt = f"forsun 127.0.0.1:{forsund.port}> "

    def spawn():
        # A job started with & by a non-interactive shell (CI scripts) ignores SIGINT, and
        # so would the CLI, inheriting it: Ctrl-C must reach it as it does in a terminal.
        child = pexpect.spawn(str(FORSUN), ["-v", "--port", str(forsund.port)], env=cli_env,
                              encoding="utf-8", timeout=15, dimensions=(40, 250),
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        child.expect_exact(prompt)
        return child

    def run(child, line: str) -> str:
        child.sendline(line)
        child.expect_exact(prompt)
        return child.before.replace("\r\n", "\n")

    child = spawn()
    try:
        shown = run(child, "set prompt:one */3600/2 * * * * * sh 'echo hi'")
        assert field(shown, "count") == "2"
        assert json.loads(field(shown, "params")) == {"cmd": "echo hi"}
        shown = run(child, "get prompt:one")
        assert "set prompt:one */3600/2 * * * * * shell 'cmd=\\'echo hi\\''" in shown
        assert run(child, "ls prompt:").split("\n")[1:] == ["prompt:one", ""]
        # Tab completes commands and keys (a ':' inside a key is not a word break).
        child.send("ls pr\t")
        child.expect_exact("ls prompt:one ")
        assert "\nprompt:one\n" in run(child, "")
        child.send("he\t")
        child.expect_exact("help ")
        assert "set KEY S M H D MON W ACTION 'PARAMS'" in run(child, "")
        assert "error: unknown command 'frobnicate'" in run(child, "frobnicate")
        assert field(run(child, "rm prompt:one"), "key") == "prompt:one"
        assert "error 1003: plan 'prompt:one' not found" in run(child, "get prompt:one")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = (home / ".forsun_history").read_text().splitlines()
    assert history[-2:] == ["get prompt:one", "exit"]

    child = spawn()
    try:
        child.send("\x10\x10")  # Ctrl-P twice: the previous session's "get prompt:one"
        child.expect_exact("get prompt:one")
        assert "error 1003" in run(child, "")
        child.send("half a line")
        child.expect_exact("half a line")  # echoed: readline waits for more input
        child.sendintr()  # Ctrl-C abandons the line, the prompt stays
        child.expect_exact("^C")
        child.expect_exact(prompt)
        child.sendeof()  # Ctrl-D leaves
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


# -- the original's output, the default --------------------------------------------------------


def local(seconds: int, zone: str = "Asia/Tokyo") -> str:
    """How the original's plan line writes a time, in the client machine's zone ``zone``."""
    return str(datetime.fromtimestamp(seconds, ZoneInfo(zone)))


@pytest.fixture(scope="module")
def tokyo(forsund, cli_env):
    """``forsun`` run in a client zone (Asia/Tokyo) other than the server's."""
    env = {**cli_env, "TZ": "Asia/Tokyo"}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(FORSUN), "--port", str(forsund.port), *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=30)

    return run


def test_plans_print_as_the_original_printed_them(tokyo, forsun):
    fixed = ok(tokyo("set orig:fixed 0 30 10 * * * http 'url=http://127.0.0.1:9/;method=post'"))
    due = ok_json(forsun("--json", "get", "orig:fixed"))["next_time"]
    line = (f"{local(due)} orig:fixed 0 30 10 * * * http "
            f"\"url='http://127.0.0.1:9/';method='post'\"\n")
    assert fixed == line
    assert ok(tokyo("get orig:fixed")) == line
    delay = ok(tokyo("set orig:delay */60/2 * * * * * sh 'echo hi'"))
    due = ok_json(forsun("--json", "get", "orig:delay"))["next_time"]
    assert delay == f"{local(due)} orig:delay */60/2 * * * * * shell \"cmd='echo hi'\"\n"
    assert ok(tokyo("ls orig:")).splitlines() == sorted([fixed.strip(), delay.strip()])
    assert delay in ok(tokyo("ls *"))
    assert ok(tokyo("rm orig:delay")) == "success\n"
    assert ok(tokyo("version")) == f"{__version__}\n"


def test_errors_print_as_the_original_printed_them(tokyo):
    result = tokyo("get orig:none")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == "cmd ForsunPlanError:  1003 plan 'orig:none' not found\n"
    result = tokyo("frobnicate")
    assert (result.returncode, result.stdout, result.stderr) == (2, "Unknown cmd  frobnicate\n",
                                                                "")
    result = tokyo("get")
    assert (result.returncode, result.stdout) == (2, "cmd error:  usage: get KEY\n")


def test_several_commands_in_one_line_and_exe(tokyo):
    shown = ok(tokyo("--exe", "set orig:exe */600 * * * * * sh true; get 'orig:exe'"))
    first, second = shown.splitlines()
    assert first == second and " orig:exe */600/1 " in first
    result = tokyo("get orig:none; rm orig:exe")  # stops at the first failure
    assert result.returncode == 1
    assert ok(tokyo("rm orig:exe")) == "success\n"


def test_piped_lines_get_the_original_banner_and_prompts(tokyo):
    result = tokyo(stdin="set orig:pipe */600 * * * * * sh true; get orig:none\nrm orig:pipe\n")
    assert result.returncode == 1
    plan = result.stdout.split("\n")[3][len("forsun> "):]
    assert result.stdout == (
        f"Welcome to the Forsun {__version__}\nType 'help' for help\n\n"
        f"forsun> {plan}\n\ncmd ForsunPlanError:  1003 plan 'orig:none' not found\n"
        f"forsun> success\n\nforsun> ")


def test_info_prints_as_the_original_printed_it(tokyo, forsund):
    lines = ok(tokyo("info")).split("\n")
    assert [line.split(":\t")[0] for line in lines[:9]] == [
        "python_version", "forsun_version", "start_time", "cpu_user", "cpu_system", "mem_rss",
        "mem_vms", "current_time", ""]
    assert re.fullmatch(r"mem_rss:\t\d+\.\d\dM", lines[5]), lines[5]
    assert re.fullmatch(r"current_time:\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+09:00", lines[7])
    assert f"bind_port:\t127.0.0.1:{forsund.port}" in lines
    assert lines[-3].startswith("timer_loop_ready_error_count:\t") and lines[-2:] == ["", ""]
