"""The hooks of forsun. Each function is a contract; there is no logic here.

Implementations may accept any subset of a spec's arguments. Registration hooks receive a
``register`` callable and may call it any number of times; the core owns the registries,
and registering a name twice is an error naming both plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from .service import Service

hookspec = pluggy.HookspecMarker("forsun")
hookimpl = pluggy.HookimplMarker("forsun")


@hookspec
def register_options(register: Callable[..., None]) -> None:
    """Declare this plugin's configuration options.

    Call ``register(Option(...))`` (:class:`forsun.options.Option`) once per option. Each
    becomes a ``forsund --flag`` (listed under the plugin in ``--help``) and a key in the
    INI file section the option names. Called once, before the command line is parsed.
    """


@hookspec
def register_stores(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register store drivers: ``register(name, factory)``.

    ``factory(options)`` is called with the :class:`forsun.options.Options` of the running
    service and returns a :class:`forsun.store.Store`; ``--driver=NAME`` selects one.
    """


@hookspec
def register_actions(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register actions: ``register(name, factory)``.

    ``factory(options)`` returns a :class:`forsun.action.Action`; it is called once per
    service, lazily, so the action may hold connection pools. A plan's ``action`` field
    selects one by name.
    """


@hookspec
def register_frontends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register front ends (servers started by forsund): ``register(name, factory)``.

    ``factory(service)`` returns a :class:`forsun.frontends.base.Frontend`. Every registered front
    end is built at start-up; one whose options leave it disabled starts nothing.
    """


@hookspec
def register_routes(register: Callable[..., None]) -> None:
    """Add operations to the HTTP front end: ``register(route)`` with a
    :class:`forsun.frontends.openapi.Route`, once per method and path.

    A route gets what the core's own routes get: the ``--token`` check (unless
    ``authenticated=False``), the cross-site refusal of mutating methods, the error
    envelope around ``data`` (unless ``enveloped=False``), and its entry in
    ``GET /v1/openapi.json``. ``raw=True``: ``run`` returns ``(content_type, bytes)``,
    sent as they are (static assets, Prometheus text). A path may end with one ``{name}``
    segment matching the rest of the URL (slashes included, possibly empty), read with
    ``handler.path_kwargs["name"]``. A method and path served twice is an error naming
    both plugins. Called when the HTTP front end starts, and by ``forsund plugins`` and
    :func:`forsun.frontends.http_routes.openapi_document`: register the same routes each
    time.
    """


@hookspec
def register_plan_sources(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register read-only plan sources for ``forsund migrate``: ``register(scheme, factory)``.

    ``factory(url)`` is called with the whole SRC URL (``SCHEME:...``) and returns a
    :class:`forsun.migrate.endpoints.Source` (no I/O before its ``open``). Stores need no
    registration here: every store is an endpoint already.
    """


@hookspec
def register_migration_endpoints(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register how ``forsund migrate`` reads or writes a store without opening it:
    ``register(store_name, factory)``, for a store registered with ``register_stores``.

    ``factory(url, options, sink)`` is called with the whole endpoint URL
    (``STORE_NAME:...``), the store's :class:`forsun.options.Options` built from it (those
    its ``register_stores`` factory would get) and whether it is the DST. It returns a
    :class:`forsun.migrate.endpoints.Sink` (no I/O before its ``open``, which must refuse
    while a running forsund uses the store), or None: migrate then opens the store as it
    does for a store with no registration here. A use: streaming a store that holds every
    plan in memory, so that migrating does not.
    """


@hookspec
def forsun_startup(service: Service) -> Any:
    """Called once the store is open and before front ends accept requests.

    May return an awaitable, which is awaited. An exception aborts start-up.
    """


@hookspec
def forsun_shutdown(service: Service) -> Any:
    """Called after front ends stopped and the engine drained, before the store closes.

    May return an awaitable, which is awaited. Exceptions are logged, never raised.
    """


@hookspec
def forsun_info(service: Service) -> dict[str, str] | None:
    """Return extra ``info()`` entries (string to string) describing this plugin's state.

    All results are merged; core keys win over plugin keys of the same name.
    """
