"""The forsun Thrift IDL (``forsun.thrift``, shipped in this package), loaded with thriftpy2.

``load_idl()`` is what the Thrift front end, :mod:`forsun.client` and the thrift action
use, so all of them speak exactly the same interface; :data:`TOKEN_FIELD_ID` is the one
field the server and the client add to it.
"""

from __future__ import annotations

import functools
import importlib.resources
import threading
from types import ModuleType

#: Field id of the token (a string) that a call may add to its arguments struct when the
#: server has a ``--token`` (the largest i16: no method of forsun.thrift will ever number an
#: argument so; servers without a token, the original forsun included, skip it). See
#: :mod:`forsun.frontends.security`.
TOKEN_FIELD_ID = 32767
#: Name the loaded module is registered under in ``sys.modules`` (lets its types pickle).
MODULE_NAME = "forsun_thrift"

_lock = threading.Lock()


def load_idl() -> ModuleType:
    """The IDL as a thriftpy2 module: ``Forsun`` (the service), ``ForsunPlan`` and
    ``ForsunPlanError``. Parsed once per process; every caller, in any thread, gets the
    same module (so exception classes compare equal everywhere)."""
    with _lock:
        return _load()


@functools.cache
def _load() -> ModuleType:
    import thriftpy2

    source = importlib.resources.files(__package__).joinpath("forsun.thrift")
    with importlib.resources.as_file(source) as path:
        return thriftpy2.load(str(path), module_name=MODULE_NAME)
