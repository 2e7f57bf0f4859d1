"""The conformance suite every store and action plugin runs (DESIGN 5).

- :class:`StoreConformance` with :class:`StoreFactory`: the store contract
  (:mod:`forsun.store.base`), in :mod:`forsun.testing.store_suite`.
- :class:`ActionConformance` with :class:`ActionTarget`: the action contract
  (:mod:`forsun.action.base`), in :mod:`forsun.testing.action_suite`.

The classes are mixins, not named ``Test*``: a plugin's ``tests/test_conformance.py``
subclasses one as ``TestSomething`` and overrides its fixtures. Every inherited test carries
the ``conformance`` marker (``pytest -m conformance``). See docs/plugin-authors.md.
"""

from .action_suite import ActionConformance, ActionTarget
from .factory import StoreFactory
from .store_suite import StoreConformance, requires

__all__ = ["ActionConformance", "ActionTarget", "StoreConformance", "StoreFactory", "requires"]
