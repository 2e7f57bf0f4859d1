"""Sorted runs spilled to files and merged back (forsun_store_mem.runs)."""

from __future__ import annotations

import random

from forsun_store_mem.runs import SortedRuns


def test_items_come_back_sorted_and_equal_keys_in_the_order_added(tmp_path):
    rng = random.Random(7)
    items = [f"{rng.randrange(200):03d}:{n}".encode() for n in range(5000)]
    runs = SortedRuns(str(tmp_path), key=lambda item: item.split(b":")[0], run=700)
    for start in range(0, len(items), 333):
        runs.add(items[start:start + 333])
    assert runs.added == 5000
    merged = list(runs.merged())
    runs.close()
    assert merged == sorted(items, key=lambda item: item.split(b":")[0])  # sorted is stable
    assert list(tmp_path.iterdir()) == [], "run files are anonymous"


def test_empty_and_odd_items(tmp_path):
    runs = SortedRuns(str(tmp_path), run=2)
    assert list(runs.merged()) == []
    runs = SortedRuns(str(tmp_path), run=2)
    runs.add([b"", b"\x00" * 70000, b"b", b"a"])
    runs.add([b"a"])
    assert list(runs.merged()) == [b"", b"\x00" * 70000, b"a", b"a", b"b"]
    runs.close()
