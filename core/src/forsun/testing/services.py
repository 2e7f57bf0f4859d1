"""Reaching the real servers tests need.

A test whose server is missing is skipped with a reason naming the server, except under
``CI=true``, where it fails: a green CI never hides a skipped suite.
"""

from __future__ import annotations

import os
import socket

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) unless ``name`` listens on ``host:port``."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing server is an error)", pytrace=False)
    pytest.skip(message)


def require_executable(name: str) -> str:
    """Path of executable ``name``; skip (fail under CI=true) when it is not installed."""
    import shutil

    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing server is an error)", pytrace=False)
    pytest.skip(message)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def closed_by_peer(sock: socket.socket, timeout: float = 10.0) -> bool:
    """Whether the other end closes (or resets) ``sock`` within ``timeout`` seconds without
    sending anything first."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
