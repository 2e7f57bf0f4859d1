"""The dashboard's files, served by the HTTP front end under ``/ui/``.

The files are the same for everyone and reveal nothing, so they are served without the
``--token`` check: the page asks for the token and sends it with every API request it
makes. Only the files shipped in ``static/`` are served (looked up by name in a table
built once), so no request reaches another file.
"""

from __future__ import annotations

import functools
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from forsun.errors import ErrorCode
from forsun.frontends.http_decoding import BadRequest
from forsun.frontends.openapi import Route

#: Where the dashboard is served.
PREFIX = "/ui/"
INDEX = "index.html"
#: What ``GET /ui`` answers: the browser goes on to ``/ui/``, whose relative links work.
REDIRECT = (b'<!doctype html><meta http-equiv="refresh" content="0; url=ui/">'
            b'<a href="ui/">forsun dashboard</a>\n')


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_walk(entry, name + "/"))
        else:
            found[name] = entry
    return found


@functools.cache
def files() -> dict[str, Traversable]:
    """The shipped files by their path under ``/ui/``."""
    return _walk(resources.files(__package__) / "static")


def content_type(name: str) -> str:
    guessed = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}.get(
        name[name.rfind("."):]) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


@functools.cache
def asset(name: str) -> tuple[str, bytes]:
    """``(content_type, bytes)`` of the file ``name`` (empty: the page itself); a
    :class:`BadRequest` with status 404 for a name that is not shipped."""
    name = name or INDEX
    found = files().get(name)
    if found is None:
        raise BadRequest(ErrorCode.NOT_FOUND, f"no dashboard file {name}", status=404)
    return content_type(name), found.read_bytes()


async def serve(handler: Any) -> tuple[str, bytes]:
    return asset(handler.path_kwargs["path"])


async def redirect(handler: Any) -> tuple[str, bytes]:
    return "text/html; charset=utf-8", REDIRECT


def routes() -> list[Route]:
    return [
        Route("GET", PREFIX + "{path}", "dashboardFile",
              "The web dashboard: its page (empty path) and files", serve,
              data={"type": "string"}, raw=True, media_type="text/html",
              authenticated=False, errors={"404": "404: no such file (errcode 1003)"},
              description="Static files, the same for everyone (no token needed); the "
                          "page asks for the token and sends it to the API."),
        Route("GET", PREFIX.rstrip("/"), "dashboard", "Sends the browser on to /ui/",
              redirect, data={"type": "string"}, raw=True, media_type="text/html",
              authenticated=False),
    ]
