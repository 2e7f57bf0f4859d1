"""The shell action: ``/bin/sh -c CMD`` in its own process group.

Params: ``cmd`` (required), ``cwd`` (relative to ``--action-shell-cwd``), ``env``
(``"a=1;b=c"``), ``wait`` (``1``/``0``, default ``--action-shell-wait``). The command
inherits the server's environment plus ``env`` plus ``FORSUN_KEY`` and ``FORSUN_TIMESTAMP``
(the due second). Under ``--action-shell-allow`` every param is held to an allow-list: the
command's prefix, the names ``env`` may set (``--action-shell-env-allow``, none by default)
and the directories ``cwd`` may name (``--action-shell-cwd-allow``, besides
``--action-shell-cwd``).

Two ways to run it:

- By default, as the original forsun: the firing is done once the command has started (a
  command that cannot start fails, without a retry). The command runs on; when it exits,
  its exit status and output are logged. The engine's action timeout never applies to it,
  and a forsund that stops leaves it running (its output is then no longer read: a command
  that writes after that gets a broken pipe, so redirect a long job's output).
- With ``wait`` (the param or ``--action-shell-wait``): the firing succeeds when the command
  exits with 0; another exit code fails it (asking for a retry with
  ``--action-shell-retry-nonzero``). Cancellation (the engine's action timeout) kills the
  whole process group, so commands the shell started die too.

The last :data:`OUTPUT_LIMIT` bytes of stdout and stderr are logged either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping

from forsun.action import Action, ActionError, Firing
from forsun.errors import ErrorCode, ForsunPlanError
from forsun.options import Options

log = logging.getLogger(__name__)

#: Bytes of output (the tail) kept for the log.
OUTPUT_LIMIT = 4096
#: Seconds to wait, after the shell exited, for its output pipe to close. A background
#: process still holding it is not waited for (its later writes get EPIPE).
OUTPUT_GRACE = 0.5
#: Characters of a command quoted in messages.
CMD_QUOTE_LIMIT = 200

#: With an allow-list, a command may not contain these: they would run or redirect
#: something the allowed prefix does not name.
SHELL_CONTROL = re.compile(r"[;&|`<>\n\r]|\$\(")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Values of the ``wait`` param.
WAIT_VALUES = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


def parse_env(text: str) -> dict[str, str]:
    """Parse the ``env`` param: ``NAME=VALUE`` entries separated by ``;``.

    Each entry is split at its first ``=`` (a value may contain ``=`` but not ``;``); blank
    entries are ignored. Raises ValueError naming a malformed entry.
    """
    env: dict[str, str] = {}
    for entry in text.split(";"):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not ENV_NAME.fullmatch(name):
            raise ValueError(f"{entry.strip()!r} is not NAME=VALUE")
        if "\0" in value:
            raise ValueError(f"the value of {name} contains a NUL byte")
        env[name] = value
    return env


def quote_cmd(cmd: str) -> str:
    """``cmd`` quoted for a message, shortened when long."""
    if len(cmd) > CMD_QUOTE_LIMIT:
        cmd = cmd[:CMD_QUOTE_LIMIT] + "..."
    return repr(cmd)


def prefix_allows(prefix: str, cmd: str) -> bool:
    """Whether allow-list entry ``prefix`` admits ``cmd``: as whole words, so ``/bin/echo``
    admits ``/bin/echo hi`` but not ``/bin/echoes``."""
    prefix = prefix.strip()
    if not prefix or not cmd.startswith(prefix):
        return False
    rest = cmd[len(prefix):]
    return not rest or rest[0] in " \t"


class _Tail:
    """The last ``limit`` bytes of a command's output, and how many were cut."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        self.tail += data
        if len(self.tail) > self.limit:
            del self.tail[:-self.limit]

    def text(self) -> str:
        text = self.tail.decode("utf-8", errors="replace").rstrip()
        cut = self.total - len(self.tail)
        return f"[{cut} bytes cut] {text}" if cut else text


class _Capture(asyncio.SubprocessProtocol):
    """A waited command's output tail; signals its exit and the pipe's closing."""

    def __init__(self, limit: int) -> None:
        loop = asyncio.get_running_loop()
        self.output = _Tail(limit)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.output.add(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class _PipeCapture(asyncio.Protocol):
    """A started command's output tail, read from its pipe; signals the pipe's closing."""

    def __init__(self, limit: int) -> None:
        self.output = _Tail(limit)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.output.add(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _await_exit(proc: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop,
                exited: asyncio.Future[int]) -> None:
    """In a thread (as asyncio's own child watcher does): wait for ``proc`` and hand its
    exit code to ``exited``, unless the loop has gone meanwhile (forsund stopped)."""
    code = proc.wait()
    with contextlib.suppress(RuntimeError):  # the loop is closed
        loop.call_soon_threadsafe(_resolve, exited, code)


def _resolve(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class ShellAction(Action):
    """Runs ``params["cmd"]`` with ``/bin/sh -c`` (see the module docstring).

    Options: ``action_shell_enabled``, ``action_shell_allow`` (command prefixes, empty = all),
    ``action_shell_env_allow`` and ``action_shell_cwd_allow`` (what ``env`` and ``cwd`` may
    name under ``action_shell_allow``), ``action_shell_cwd`` (default working directory),
    ``action_shell_wait``, ``action_shell_retry_nonzero``.
    """

    name = "shell"

    required_params = ("cmd",)

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        self.enabled = bool(options.action_shell_enabled)
        self.allow = [prefix for prefix in options.action_shell_allow if prefix.strip()]
        self.env_allow = frozenset(name.strip() for name in options.action_shell_env_allow
                                   if name.strip())
        self.default_cwd = os.path.normpath(options.action_shell_cwd)
        self.cwd_allow = frozenset({self.default_cwd} | {
            self._resolve(entry) for entry in options.action_shell_cwd_allow if entry.strip()})
        self.wait = bool(options.action_shell_wait)
        self.retry_nonzero = bool(options.action_shell_retry_nonzero)
        #: Watchers of started commands that were not waited for.
        self._started: set[asyncio.Task[None]] = set()

    def validate(self, params: Mapping[str, str]) -> None:
        """Refuse the plan when the shell action is disabled (1006), a param is missing
        (1007) or malformed, or the command is not allowed (1004, naming the param)."""
        self._check(params)

    def _resolve(self, cwd: str) -> str:
        """``cwd`` against ``--action-shell-cwd``, normalised (so ``a/../..`` cannot hide
        where it leads): the directory a command runs in."""
        return os.path.normpath(os.path.join(self.default_cwd, cwd))

    def _check(self, params: Mapping[str, str]) -> tuple[dict[str, str], str, bool]:
        """Run :meth:`validate`'s checks; return the parsed ``env``, the working directory
        and whether to wait for the command."""
        if not self.enabled:
            raise ForsunPlanError(ErrorCode.UNKNOWN_ACTION,
                                  "action 'shell' is disabled on this server "
                                  "(--no-action-shell-enabled)")
        super().validate(params)
        cmd = params["cmd"]
        for name in ("cmd", "cwd"):
            if "\0" in params.get(name, ""):
                raise ForsunPlanError.invalid(f"params.{name}", "contains a NUL byte")
        try:
            env = parse_env(params.get("env", ""))
        except ValueError as exc:
            raise ForsunPlanError.invalid("params.env", str(exc)) from None
        cwd = self._resolve(params.get("cwd") or "")
        if self.allow:
            self._check_allowed(cmd, env, cwd)
        return env, cwd, self._wait(params)

    def _wait(self, params: Mapping[str, str]) -> bool:
        """The ``wait`` param, else ``--action-shell-wait``."""
        text = params.get("wait", "").strip().lower()
        if not text:
            return self.wait
        if text not in WAIT_VALUES:
            raise ForsunPlanError.invalid("params.wait", f"{params['wait']!r} is not 1 or 0")
        return WAIT_VALUES[text]

    def _check_allowed(self, cmd: str, env: Mapping[str, str], cwd: str) -> None:
        """The allow-list's rules: ``cmd`` starts with an allowed prefix and has no shell
        control operator, ``env`` sets only names of ``--action-shell-env-allow`` (a
        deny-list would leak: PERL5OPT, PYTHONPATH, NODE_OPTIONS... all run code), ``cwd``
        is ``--action-shell-cwd`` or listed in ``--action-shell-cwd-allow``."""
        stripped = cmd.lstrip(" \t")
        if not any(prefix_allows(prefix, stripped) for prefix in self.allow):
            raise ForsunPlanError.invalid(
                "params.cmd", f"{quote_cmd(stripped)} does not start with a prefix "
                              "allowed by --action-shell-allow")
        if SHELL_CONTROL.search(cmd):
            raise ForsunPlanError.invalid(
                "params.cmd", "shell control operators (; & | ` $( < > newline) are "
                              "refused when --action-shell-allow is set")
        refused = sorted(set(env) - self.env_allow)
        if refused:
            raise ForsunPlanError.invalid(
                "params.env", f"{', '.join(refused)} may not be set: with "
                              "--action-shell-allow, env may set only the names listed by "
                              "--action-shell-env-allow")
        if cwd not in self.cwd_allow:
            raise ForsunPlanError.invalid(
                "params.cwd", f"{cwd!r} may not be used: with --action-shell-allow, "
                              "commands run in --action-shell-cwd or a directory listed by "
                              "--action-shell-cwd-allow")

    async def execute(self, firing: Firing) -> None:
        params = firing.params
        cmd = params.get("cmd", "")
        try:
            extra_env, cwd, wait = self._check(params)
        except ForsunPlanError as exc:
            raise ActionError(f"shell {quote_cmd(cmd)}: {exc.message}") from None
        env = dict(os.environ)
        env.update(extra_env)
        env["FORSUN_KEY"] = firing.key
        env["FORSUN_TIMESTAMP"] = str(firing.ts)
        if wait:
            await self._run(firing, cmd, env, cwd)
        else:
            self._start(firing, cmd, env, cwd)

    async def _run(self, firing: Firing, cmd: str, env: dict[str, str], cwd: str) -> None:
        """Run the command and wait for it: non-zero fails the firing."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            transport, capture = await loop.subprocess_exec(
                lambda: _Capture(OUTPUT_LIMIT), "/bin/sh", "-c", cmd,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                cwd=cwd, env=env, start_new_session=True)
        except (OSError, ValueError) as exc:
            raise _not_started(cmd, cwd, exc) from None
        try:
            await capture.exited
            await asyncio.wait({capture.output_closed}, timeout=OUTPUT_GRACE)
        except BaseException:
            _kill_group(transport.get_pid())
            raise
        finally:
            transport.close()
        outcome = self._report(firing, cmd, transport.get_returncode(), capture.output.text(),
                               time.monotonic() - started)
        if outcome:
            raise ActionError(f"shell {quote_cmd(cmd)} {outcome}", retry=self.retry_nonzero)

    def _start(self, firing: Firing, cmd: str, env: dict[str, str], cwd: str) -> None:
        """Start the command and return: its exit status and output are logged when it
        exits (by a watcher task)."""
        try:
            proc = subprocess.Popen(["/bin/sh", "-c", cmd], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd,
                                    env=env, start_new_session=True)
        except (OSError, ValueError) as exc:
            raise _not_started(cmd, cwd, exc) from None
        log.debug("shell %s (key %s, due %d) started as pid %d", quote_cmd(cmd), firing.key,
                  firing.ts, proc.pid)
        task = asyncio.create_task(self._watch(firing, cmd, proc, time.monotonic()),
                                   name=f"forsun-shell-{proc.pid}")
        self._started.add(task)
        task.add_done_callback(self._started.discard)

    async def _watch(self, firing: Firing, cmd: str, proc: subprocess.Popen[bytes],
                     started: float) -> None:
        loop = asyncio.get_running_loop()
        assert proc.stdout is not None
        transport, capture = await loop.connect_read_pipe(
            lambda: _PipeCapture(OUTPUT_LIMIT), proc.stdout)
        exited: asyncio.Future[int] = loop.create_future()
        threading.Thread(target=_await_exit, args=(proc, loop, exited), daemon=True,
                         name=f"forsun-shell-wait-{proc.pid}").start()
        try:
            code = await exited
            await asyncio.wait({capture.closed}, timeout=OUTPUT_GRACE)
        finally:
            transport.close()  # never kills the command, unlike a subprocess transport
        self._report(firing, cmd, code, capture.output.text(), time.monotonic() - started)

    async def close(self) -> None:
        """Stop watching started commands; they run on (see the module docstring)."""
        running = list(self._started)
        if running:
            log.info("%d shell command(s) still running are left running; their exit "
                     "status and output are not logged", len(running))
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await super().close()

    def _report(self, firing: Firing, cmd: str, code: int, output: str,
                elapsed: float) -> str:
        """Log the exit status and output; return what went wrong ("" for exit 0)."""
        if code == 0:
            if output:
                log.info("shell %s (key %s, due %d) exited with 0 in %.0f ms; output: %s",
                         quote_cmd(cmd), firing.key, firing.ts, elapsed * 1000, output)
            return ""
        outcome = (f"was killed by {_signal_name(-code)}" if code < 0
                   else f"exited with code {code}")
        log.warning("shell %s (key %s, due %d) %s; output: %s", quote_cmd(cmd), firing.key,
                    firing.ts, outcome, output or "(none)")
        return outcome


def _not_started(cmd: str, cwd: str, exc: OSError | ValueError) -> ActionError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return ActionError(f"shell {quote_cmd(cmd)} could not start in {cwd!r}: {reason}")
