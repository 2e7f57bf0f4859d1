"""Actions: the contract (:mod:`forsun.action.base`) and the original's action API
(:mod:`forsun.action.action`, a legacy import path of :mod:`forsun.legacy.action`, and the
original's ``register_action`` / ``get_driver_names`` from :mod:`forsun.legacy.registry`).

``forsun.action.Action`` is the contract's base class; an action written for the original
imports its base class from ``forsun.action.action`` or ``forsun``.
"""

from ..legacy.registry import get_driver_names, register_action
from .base import Action, ActionError, Firing

__all__ = ["Action", "ActionError", "Firing", "get_driver_names", "register_action"]
