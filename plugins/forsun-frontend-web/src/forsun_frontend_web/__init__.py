"""forsun's web dashboard: static pages under ``/ui/`` of the HTTP front end (``--http``)
that read and act through the JSON API (see README.md)."""

from __future__ import annotations

from collections.abc import Callable

from forsun import hookimpl


@hookimpl
def register_routes(register: Callable[..., None]) -> None:
    from .assets import routes

    for route in routes():
        register(route)

