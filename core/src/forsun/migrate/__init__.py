"""Moving plans between stores and files (``forsund migrate``).

An *endpoint* is named by a URL (:func:`forsun.migrate.endpoints.parse`): a store of any
installed store plugin (``mem:PATH``, ``redis://host:port/db?prefix=NAME``), ``ndjson:PATH``
(``ndjson:-`` for stdin/stdout), the original forsun's mem dump (``forsun0:PATH``), or a
source a plugin registers (``register_plan_sources``: ``forsun0+redis://``,
``timerush+redis://``). Sources yield plans in pages, so no endpoint holds every plan in
memory; a store whose ``open`` would (the mem store) registers an endpoint that streams its
data instead (``register_migration_endpoints``).
"""
