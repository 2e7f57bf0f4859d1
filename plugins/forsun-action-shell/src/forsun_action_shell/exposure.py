"""What forsund logs at start-up about who can run commands through the shell action."""

from __future__ import annotations

import logging
import pwd

from forsun.options import Options

#: Where the safe set-up is written down, named in every warning.
HARDENING_DOC = "docs/operations.md, section Hardening"


def _user(euid: int) -> str:
    try:
        return f"user {pwd.getpwuid(euid).pw_name!r} (uid {euid})"
    except KeyError:
        return f"uid {euid}"


def startup_warnings(options: Options, euid: int) -> list[tuple[int, str]]:
    """``(level, one-line message)`` for each risk the shell options leave open, for a
    server whose effective uid is ``euid``; empty when there is none.

    - The action is enabled and no ``--token`` is set: every local user (Thrift listens on
      loopback) can run commands as forsund's user. WARNING, or ERROR when that user is
      root; the message names the flags that close it.
    - ``--action-shell-env-allow``/``--action-shell-cwd-allow`` without
      ``--action-shell-allow``: they restrict nothing. WARNING.
    """
    found: list[tuple[int, str]] = []
    allow = [prefix for prefix in options.action_shell_allow if prefix.strip()]
    if options.action_shell_enabled and not options.token:
        if allow:
            what, flags = "the commands --action-shell-allow admits", "--token TOKEN"
        else:
            what = "any command"
            flags = ("--token TOKEN and --action-shell-allow /path/to/command (or "
                     "--no-action-shell-enabled)")
        if euid == 0:
            level, opening = logging.ERROR, "forsund runs as root, the shell action is enabled"
            fix = f"run forsund as an unprivileged user, with {flags}"
        else:
            level, opening = logging.WARNING, "the shell action is enabled"
            fix = f"start forsund with {flags}"
        found.append((level, f"{opening} and no --token is set: any local user, and anyone "
                             "who can reach the Thrift or HTTP port, can run "
                             f"{what} as {_user(euid)} by creating a shell plan; lock it "
                             f"down: {fix} ({HARDENING_DOC})"))
    unused = [flag for flag, values in (
        ("--action-shell-env-allow", options.action_shell_env_allow),
        ("--action-shell-cwd-allow", options.action_shell_cwd_allow)) if values]
    if options.action_shell_enabled and unused and not allow:
        verb = "apply" if len(unused) > 1 else "applies"
        found.append((logging.WARNING, f"{' and '.join(unused)} {verb} only with "
                                       "--action-shell-allow: without it every command, env "
                                       "and cwd is accepted"))
    return found
