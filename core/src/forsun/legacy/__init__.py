"""Everything that exists only for the original forsun (PyPI ``forsun`` 0.1.4): its
extension API, action and store base classes, error classes and the loading of
``--extension module.Class``. The original's import paths (``forsun.extension``,
``forsun.error``, ``forsun.action.action``, ``forsun.store.store``) re-export from here.
"""
