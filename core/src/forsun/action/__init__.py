"""Actions: the contract (:mod:`forsun.action.base`) and the original's action API
(:mod:`forsun.action.action`, a legacy import path of :mod:`forsun.legacy.action`)."""

from .base import Action, ActionError, Firing

__all__ = ["Action", "ActionError", "Firing"]
