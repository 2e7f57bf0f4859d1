"""The original forsun 0.1.4, installed into a cached virtual environment beside the
workspace, and run as its users ran it.

:func:`original_venv` builds ``~/.cache/forsun-compat/forsun-0.1.4-py3.X`` (or under
``$FORSUN_COMPAT_CACHE``) once: ``pip install`` of :data:`REQUIREMENTS` (the original,
tornado < 6 and thriftpy2, as DESIGN section 8 says, and its mysql action's client tormysql
with the PyMySQL of its day; its beanstalk action's, beanstalkt, is on no package index any
more) and a ``sitecustomize.py`` restoring the ``collections`` aliases Python 3.10 removed,
which the original imports. The build runs under a lock, so runs in parallel share
one, and writes a marker file last: an interrupted build, or one of other requirements, is
made again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from forsun.testing.services import free_port, reachable

VERSION = "0.1.4"
REQUIREMENTS = (f"forsun=={VERSION}", "tornado<6", "thriftpy2", "tormysql", "PyMySQL<0.10")
#: What the marker file of a finished build holds; another content means another build.
READY = f"{' '.join(REQUIREMENTS)}\n"
SITECUSTOMIZE = """\
import collections, collections.abc
for _n in ('Mapping', 'MutableMapping', 'Sequence', 'Iterable', 'Callable', 'Set',
           'MutableSet', 'Hashable'):
    setattr(collections, _n, getattr(collections.abc, _n))
"""
#: Every process of the suite, the original's and ours, runs in UTC: the original computed
#: its times from time.mktime(time.gmtime()), right only there.
ENV = {"TZ": "UTC"}


def cache_dir() -> Path:
    root = os.environ.get("FORSUN_COMPAT_CACHE") or Path.home() / ".cache" / "forsun-compat"
    return Path(root) / f"forsun-{VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"


def _base_python() -> str:
    """The interpreter this workspace's environment was made from (not the venv's)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def original_venv() -> Path:
    """The cached virtual environment holding the original (built on first use)."""
    target = cache_dir()
    ready = target / "forsun-compat-ready"
    if _built(ready):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _built(ready):
            _build(target)
    return target


def _built(ready: Path) -> bool:
    return ready.exists() and ready.read_text() == READY


def _build(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)  # an interrupted build
    subprocess.run([_base_python(), "-m", "venv", str(target)], check=True)
    python = target / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *REQUIREMENTS], check=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "sitecustomize.py").write_text(SITECUSTOMIZE)
    subprocess.run([str(python), "-c", "import forsun.forsun, forsun.scripts.forsun"],
                   check=True, env={**os.environ, **ENV})
    (target / "forsun-compat-ready").write_text(READY)


def ours_bin(name: str) -> str:
    """A console script of this workspace (``forsund``, ``forsun``)."""
    return str(Path(sysconfig.get_path("scripts")) / name)


@attrs.define
class Server:
    """A running forsund, the original's or ours: its Thrift and HTTP ports, its folder."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    http_port: int
    workdir: Path

    @property
    def log_path(self) -> Path:
        return self.workdir / "forsund.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(name: str, command: Sequence[str], workdir: Path, *, port: int | None = None,
                 http_port: int | None = None, env: dict[str, str] | None = None,
                 ready_timeout: float = 30.0, extra: Sequence[str] = ()) -> Server:
    """Start ``command`` (a forsund) on free ports, logging to ``workdir/forsund.log``, and
    return once its Thrift and HTTP ports accept connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    http_port = http_port or free_port()
    args = [*command, "--port", str(port), f"--http=127.0.0.1:{http_port}",
            f"--log={workdir / 'forsund.log'}", *extra]
    with open(workdir / "stdout.log", "ab") as out:
        proc = subprocess.Popen(args, cwd=workdir, env={**os.environ, **ENV, **(env or {})},
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, proc, port, http_port, workdir)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} forsund exited with {proc.returncode}:\n"
                               f"{(workdir / 'stdout.log').read_text(errors='replace')}\n"
                               f"{server.log_text()}")
        if reachable("127.0.0.1", port, 0.2) and reachable("127.0.0.1", http_port, 0.2):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{name} forsund did not listen within {ready_timeout:g}s:\n"
                       f"{server.log_text()}")


def original_command(venv: Path, workdir: Path) -> list[str]:
    """The original forsund in the foreground, on a mem store file of its own (its default,
    ~/.forsun.dump, would be reloaded at every start)."""
    return [str(venv / "bin" / "forsund"), "--nodemon", "--driver=mem",
            f"--driver-mem-store-file={workdir / 'original.dump'}"]


def our_command(workdir: Path) -> list[str]:
    return [ours_bin("forsund"), f"--driver-mem-store-file={workdir / 'forsun.db'}"]


@contextlib.contextmanager
def server_pair(venv: Path, workdir: Path, *, extra: Sequence[str] = (),
                env: dict[str, str] | None = None) -> Iterator[tuple[Server, Server]]:
    """The original forsund and ours, side by side, each with ``extra`` arguments."""
    original = start_server("original", original_command(venv, workdir / "original"),
                            workdir / "original", extra=extra, env=env)
    try:
        ours = start_server("ours", our_command(workdir / "ours"), workdir / "ours",
                            extra=extra, env=env)
        try:
            yield original, ours
        finally:
            ours.stop()
    finally:
        original.stop()
