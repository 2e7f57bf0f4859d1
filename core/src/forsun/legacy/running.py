"""The service the original's module-level APIs (``forsun.status``, ``forsun.timer``,
``forsun.action.get_driver_names`` ...) describe: the one this process runs.

:mod:`forsun.legacy.plugin` binds it at start-up and unbinds it at shutdown; without a
running service those APIs answer as the original did before its server started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service import Service

_service: Service | None = None


def bind(service: Service | None) -> None:
    global _service
    _service = service


def service() -> Service | None:
    """The running service, or None."""
    return _service
