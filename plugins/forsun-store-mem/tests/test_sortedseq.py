"""SortedSeq against a plain sorted list, including snapshots taken while it changes.

Items are shaped like records: a NUL-free key, NUL, then a payload; keys are unique.
"""

from __future__ import annotations

import bisect
import random

import pytest

from forsun_store_mem.sortedseq import SortedSeq


def key(rng: random.Random) -> bytes:
    return bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 3)))


def item(rng: random.Random, k: bytes) -> bytes:
    return k + b"\0" + rng.randbytes(rng.randint(0, 3))


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_sorted_list_under_random_changes(seed: int) -> None:
    rng = random.Random(seed)
    seq, model = SortedSeq(load=8), {}
    frozen, frozen_model = None, None
    for step in range(4000):
        op = rng.random()
        k = key(rng)
        if op < 0.4:
            if k not in model:
                model[k] = item(rng, k)
                seq.add(model[k])
        elif op < 0.65:
            if model and rng.random() < 0.8:
                k = rng.choice(list(model))
            present = model.pop(k, None)
            assert seq.discard(present or item(rng, k)) == (present is not None)
        elif op < 0.9:
            replacement = item(rng, k)
            assert seq.upsert(replacement, k + b"\0") == model.get(k)
            model[k] = replacement
        elif op < 0.95:
            frozen, frozen_model = seq.freeze(), sorted(model.values())
        else:
            if frozen is not None:
                assert [x for sub in frozen for x in sub] == frozen_model
            seq.thaw()
            frozen = None
        assert len(seq) == len(model)
        if step % 50 == 0:
            ordered = sorted(model.values())
            assert list(seq) == ordered
            probe = key(rng)
            at = bisect.bisect_left(ordered, probe)
            assert list(seq.iter_from(probe)) == ordered[at:]
            assert seq.first_ge(probe) == (ordered[at] if at < len(ordered) else None)
    assert list(seq) == sorted(model.values())


def test_discard_reports_whether_the_item_was_there() -> None:
    seq = SortedSeq(load=2)
    for k in (b"a", b"b", b"c", b"d", b"e"):
        seq.add(k + b"\0")
    assert seq.discard(b"c\0")
    assert not seq.discard(b"c\0")
    assert not seq.discard(b"zz\0")
    assert list(seq) == [b"a\0", b"b\0", b"d\0", b"e\0"]


def test_extend_sorted_then_changes() -> None:
    seq = SortedSeq(load=4)
    seq.extend_sorted([bytes([i]) for i in range(2, 100, 2)])
    seq.add(bytes([51]))
    assert seq.discard(bytes([50]))
    assert list(seq) == sorted({bytes([i]) for i in range(2, 100, 2)} - {bytes([50])}
                               | {bytes([51])})
