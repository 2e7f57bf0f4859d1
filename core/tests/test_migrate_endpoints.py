"""forsund migrate's endpoint URLs and its count check, without servers."""

from __future__ import annotations

import pytest

from forsun import hookimpl
from forsun.migrate.command import Tally
from forsun.migrate.endpoints import EndpointError, Sink, parse
from forsun.migrate.ndjson import NdjsonEndpoint
from forsun.migrate.stores import StoreEndpoint, store_options
from forsun.options import Option
from forsun.plugins import get_plugin_manager


@pytest.fixture(scope="module")
def pm():
    return get_plugin_manager()


def test_a_store_url_sets_its_file_option(pm):
    options = store_options("mem:/data/forsun.db?store_fsync=always", "mem",
                            "/data/forsun.db?store_fsync=always", pm)
    assert options.driver == "mem"
    assert options.driver_mem_store_file == "/data/forsun.db"
    assert options.driver_mem_store_fsync == "always"


class ToyStore:
    """A store plugin whose migration endpoint takes every file but ``opened.db``."""

    @hookimpl
    def register_stores(self, register):
        register("toy", lambda options: None)

    @hookimpl
    def register_options(self, register):
        register(Option("driver-toy-file", metavar="FILE", help="where"))

    @hookimpl
    def register_migration_endpoints(self, register):
        register("toy", lambda url, options, sink: None
                 if options.driver_toy_file == "opened.db" else ToyEndpoint(url, sink))


class ToyEndpoint(Sink):
    def __init__(self, url, sink):
        super().__init__(url)
        self.sink = sink


def test_a_registered_migration_endpoint_is_preferred_unless_it_declines():
    pm = get_plugin_manager(only=[ToyStore()])
    endpoint = parse("toy:streamed.db", pm, sink=True)
    assert isinstance(endpoint, ToyEndpoint) and endpoint.sink
    assert parse("toy:streamed.db", pm).sink is False
    opened = parse("toy:opened.db", pm, sink=True)
    assert isinstance(opened, StoreEndpoint)
    assert opened.options.driver_toy_file == "opened.db"


def test_ndjson_and_the_original_dump(pm):
    assert isinstance(parse("ndjson:-", pm, sink=True), NdjsonEndpoint)
    assert type(parse("forsun0:~/.forsun.dump", pm)).__name__ == "DumpSource"


@pytest.mark.parametrize(("url", "sink", "words"), [
    ("nothing", False, "not an endpoint URL"),
    ("gopher://x", False, "unknown scheme 'gopher'"),
    ("forsun0:x", True, "can only be read"),
    ("mem:", True, "no file name"),
    ("mem:x?colour=red", True, "unknown parameter 'colour'"),
    ("mem:x?store-fsync=sometimes", True, "--driver-mem-store-fsync"),
    ("mem://host/x", True, "not named by a URL"),
    ("ndjson:", True, "no file name"),
])
def test_bad_urls_are_refused_naming_the_problem(pm, url, sink, words):
    with pytest.raises(EndpointError, match=words):
        parse(url, pm, sink=sink)


@pytest.mark.parametrize(("written", "replaced", "before", "found", "agrees"), [
    (10, 0, 0, 10, True), (10, 0, 0, 9, False), (10, 0, 0, 11, False),
    (10, 10, 10, 10, True), (10, 3, 5, 12, True), (10, 3, 5, 13, False),
    (10, None, 5, 12, True), (10, None, 5, 9, False), (10, None, 5, 16, False),
    (10, 0, None, None, None),
])
def test_dst_count_check(written, replaced, before, found, agrees):
    tally = Tally(written=written, replaced=replaced, before=before, found=found)
    assert tally.agrees() is agrees


def test_ndjson_duplicates_are_told_from_hash_collisions(tmp_path):
    """A line whose key's hash was read before is set aside, then read again: a duplicate
    names the line that read its key first, a collision is read as any other line."""
    import orjson

    from forsun.migrate.ndjson import _Keys, _plan_of
    from forsun.testing.fixtures import build_plan

    lines = [orjson.dumps(build_plan(key).to_dict()) + b"\n" for key in ("a", "b", "a", "c")]
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"".join(lines))
    keys = _Keys()
    read = [_plan_of(line, number, keys) for number, line in enumerate(lines, 1)]
    assert [item.key for item in read if item is not None] == ["a", "b", "c"]
    assert list(keys.suspects) == [3]
    keys.suspects[4] = ("c", lines[3])  # as if "c" hashed like a key read before
    duplicate, collision = keys.resolve(open(path, "rb"))  # noqa: SIM115 - it closes it
    assert duplicate.where == "line 3" and "already read at line 1" in duplicate.why
    assert collision.key == "c"
