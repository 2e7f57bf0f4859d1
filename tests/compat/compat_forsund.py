"""Item 4: forsund's habits, the original's and ours side by side: its sample conf file
(placeholder extensions included), the environment variables its config read and their
rank, ``--demon VALUE`` / ``--nodemon VALUE``, the log file with ``--demon``, ``log_rotate``
and ``log_backup_count``, ``--log -``, SIGHUP, ``server_mode``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from compat_http import call
from differences import kept
from original import ENV, Server, original_command, our_command, server_pair, start_server

from forsun.testing.services import free_port, reachable

#: The original's sample conf file (forsun.conf.example of its repository): every setting
#: with its default, the placeholder extensions "a" and "b".
SAMPLE_CONF = """\
# High-performance timing scheduling service
port=6458
bind_address=127.0.0.1
http_bind=
log_file=/var/log/forsun.log
log_level=INFO
log_format=

[store]
driver=mem
status_expried = 0
mem_store_file=/tmp/forsun.session
redis_host=127.0.0.1
redis_port=6379
redis_db=0
redis_prefix=forsun
redis_server_id=0
redis_max_connections=8
redis_client_timeout=7200
redis_bulk_size=5
redis_currenttime_expried=2592000
redis_plan_expried=604800
redis_plantime_expried=604800

[action]
retry_delay_seconds=3
retry_delay_rate=1
retry_max_count=3
poll_idle_seconds=120
shell_cwd=/tmp
http_max_clients=64
http_connect_timeout=5
http_request_timeout=120
http_user_agent=
redis_max_connections=8
redis_client_timeout=7200
redis_bulk_size=5
thrift_max_connections=64
mysql_user=root
mysql_passwd=
mysql_max_connections=8
mysql_wait_connection_timeout=7200
mysql_idle_seconds=120

[extension]
path=
extensions=a;b
"""


def commands(venv: Path, workdir: Path) -> dict[str, list[str]]:
    return {"original": original_command(venv, workdir / "original"),
            "ours": our_command(workdir / "ours")}


def test_the_sample_conf_file(venv, tmp_path):
    """Both run with the sample conf as it is (flags set what a test machine needs: the
    ports, the log and the store's file), and read it alike."""
    conf = tmp_path / "forsun.conf"
    conf.write_text(SAMPLE_CONF)
    with server_pair(venv, tmp_path, extra=[f"--conf={conf}"]) as (original, ours):
        infos = [call(server, "GET", "/v1/info")[1]["data"] for server in (original, ours)]
        logs = [original.log_text(), ours.log_text()]
    for info in infos:
        assert (info["current_store"], info["extensions"]) == ("mem", "a;b")
    assert "load extension error: a" in logs[0] and "load extension error: b" in logs[0]
    assert "extension a failed to load" in logs[1] and "extension b failed to load" in logs[1]


def start_bare(name: str, command: list[str], workdir: Path, env: dict[str, str],
               port: int, http_port: int) -> Server:
    """``command`` with no --port, --http or --log: what the environment says applies."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(command, cwd=workdir, env={**os.environ, **ENV, **env},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_listening(name, port, http_port, proc)
    return Server(name, proc, port, http_port, workdir)


def wait_listening(name: str, port: int, http_port: int,
                   proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 30
    while not (reachable("127.0.0.1", port, 0.2) and reachable("127.0.0.1", http_port, 0.2)):
        assert proc is None or proc.poll() is None, f"{name} forsund exited"
        assert time.monotonic() < deadline, f"{name} forsund did not listen"
        time.sleep(0.05)


def test_the_original_environment_variables(venv, tmp_path):
    """PORT, HTTP_BIND, LOG_FILE, LOG_LEVEL and STORE_DRIVER set forsund as they set the
    original, below the conf file (BIND_ADDRESS is set there too)."""
    conf = tmp_path / "forsun.conf"
    conf.write_text("bind_address=127.0.0.1\n[action]\nretry_max_count=4\n")
    for name, command in commands(venv, tmp_path).items():
        port, http_port = free_port(), free_port()
        log = tmp_path / f"{name}.log"
        env = {"PORT": str(port), "HTTP_BIND": f"127.0.0.1:{http_port}", "LOG_FILE": str(log),
               "LOG_LEVEL": "WARNING", "STORE_DRIVER": "mem", "BIND_ADDRESS": "0.0.0.0"}
        server = start_bare(name, [*command, f"--conf={conf}"], tmp_path / name, env, port,
                            http_port)
        try:
            info = call(server, "GET", "/v1/info")[1]
        finally:
            assert server.stop() == 0
        assert info["data"]["bind_port"] == f"127.0.0.1:{port}", name
        assert log.exists() and " INFO " not in log.read_text(), name


def test_a_bad_environment_value(venv, tmp_path):
    """PORT=abc: the original ignored it silently; forsund refuses in one line."""
    kept("invalid-environment")
    result = subprocess.run(commands(venv, tmp_path)["ours"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, **ENV, "PORT": "abc"})
    assert result.returncode == 1
    assert result.stderr.startswith("forsund: error: environment variable PORT='abc'")


@pytest.mark.parametrize("flag", [["--demon", "1"], ["--demon=yes"], ["--demon"]])
def test_demon_detaches_and_logs_to_the_log_file(venv, tmp_path, flag):
    """``--demon VALUE`` detaches both, which say ``forsund started by pid N``; with no
    --log (nor conf) their log goes to the original's default file, here moved by LOG_FILE
    (the default itself, /var/log/forsun.log, is checked by the core's tests)."""
    for name, command in commands(venv, tmp_path).items():
        port, http_port = free_port(), free_port()
        log, out = tmp_path / f"{name}.log", tmp_path / f"{name}.out"
        if name == "original":
            command = [part for part in command if part != "--nodemon"]
        else:
            command = [*command, f"--pid-file={tmp_path / 'forsund.pid'}"]
        with open(out, "w") as stdout:
            started = subprocess.run(
                [*command, *flag, "--port", str(port), f"--http=127.0.0.1:{http_port}"],
                stdout=stdout, stderr=subprocess.STDOUT, timeout=60, cwd=tmp_path,
                env={**os.environ, **ENV, "LOG_FILE": str(log)})
        assert started.returncode == 0, (name, out.read_text())
        wait_listening(name, port, http_port)
        match = re.search(r"forsund started by pid (\d+)", out.read_text())
        assert match, (name, out.read_text())
        os.kill(int(match.group(1)), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while reachable("127.0.0.1", port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.exists() and log.stat().st_size, name


@pytest.mark.parametrize("flag", [["--nodemon", "0"], ["--nodemon"], ["--demon", "--nodemon"]])
def test_nodemon_stays_in_the_foreground(venv, tmp_path, flag):
    for name, command in commands(venv, tmp_path).items():
        command = [part for part in command if part != "--nodemon"]
        server = start_server(name, [*command, *flag], tmp_path / name)
        assert server.proc.poll() is None, name  # not detached: the process serves
        assert server.stop() == 0, name


def test_sighup_stops_cleanly(venv, tmp_path):
    with server_pair(venv, tmp_path) as servers:
        for server in servers:
            call(server, "PUT", "/v1/plan", {"key": "hup", "seconds": 3600, "count": 1,
                                             "action": "shell", "params": {"cmd": "true"}})
            server.proc.send_signal(signal.SIGHUP)
            assert server.proc.wait(30) == 0, server.name
    assert "forsund stopped" in servers[1].log_text()


def test_log_dash_is_stderr(venv, tmp_path):
    """``--log -`` (given after start_server's own --log, so it wins) logs to stderr; ours
    says there that it runs in the foreground and how to detach."""
    kept("foreground")
    with server_pair(venv, tmp_path, extra=["--log=-"]) as servers:
        for server in servers:
            assert call(server, "GET", "/v1/ping")[1]["errcode"] == 0
    for server in servers:
        stderr = (server.workdir / "stdout.log").read_text(errors="replace")
        assert " INFO " in stderr and not server.log_path.exists(), server.name
    assert "--demon to detach" in (servers[1].workdir / "stdout.log").read_text()


def test_log_rotate_and_backup_count(venv, tmp_path):
    conf = tmp_path / "forsun.conf"
    conf.write_text("log_level=DEBUG\nlog_rotate=1K\nlog_backup_count=2\n")
    with server_pair(venv, tmp_path, extra=[f"--conf={conf}"]) as servers:
        for server in servers:
            for index in range(60):
                call(server, "GET", f"/v1/plan?key=rotate-{index}")
    for server in servers:
        rotated = sorted(path.name for path in server.workdir.glob("forsund.log*"))
        assert rotated == ["forsund.log", "forsund.log.1", "forsund.log.2"], server.name


def test_server_mode(venv, tmp_path):
    conf = tmp_path / "forsun.conf"
    conf.write_text("server_mode=PROXY\n")
    marker = tmp_path / "fired"
    with server_pair(venv, tmp_path, extra=[f"--conf={conf}"]) as servers:
        for server in servers:
            answer = call(server, "PUT", "/v1/plan", {
                "key": "proxy", "seconds": 1, "count": 1, "action": "shell",
                "params": {"cmd": f"/bin/touch {marker}-{server.name}"}})
            assert answer[1]["errcode"] == 0
        time.sleep(3)
        for server in servers:  # still there, never fired
            answer = call(server, "GET", "/v1/plan?key=proxy")
            assert answer[1]["data"]["current_count"] == 0, server.name
    assert not list(tmp_path.glob("fired-*"))
