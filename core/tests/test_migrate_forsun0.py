"""Reading the original forsun's plan records (the cases its real dumps in
tests/test_migrate_original.py do not hold)."""

from __future__ import annotations

import msgpack

from forsun.migrate.endpoints import Skipped
from forsun.migrate.forsun0 import decode_record, is_original_dump

RECORD = {"key": "k", "second": 5, "minute": -1, "hour": -1, "day": -1, "month": -1,
          "week": -1, "status": 0, "count": 3, "is_time_out": True, "next_time": 1_800_000_000,
          "current_count": 1, "last_timeout": 1_799_999_995, "created_time": 1_799_999_990.0,
          "action": "shell", "params": {"cmd": "echo é"}}


def packed(**changes) -> bytes:
    """A record as the original wrote it (msgpack 0.6: strings as raw)."""
    return msgpack.packb({**RECORD, **changes}, use_bin_type=False)


def test_a_record_keeps_its_state():
    plan = decode_record(packed(), "here")
    assert plan.to_dict() == {**RECORD, "params": {"cmd": "echo é"}}


def test_records_that_cannot_be_plans_are_named():
    finished = decode_record(packed(next_time=None), "plan 3 of the dump")
    assert finished == Skipped("finished", "plan 3 of the dump",
                               "key 'k': fired its last time, nothing left to run")
    assert decode_record(packed(params="{}"), "x").params == {}
    assert decode_record(packed(params=7), "x").kind == "invalid"
    assert decode_record(packed(second=1 << 20), "x").why.startswith("key 'k': second:")
    assert decode_record(b"\xc1", "x").kind == "unreadable"


def test_a_dump_is_told_from_other_files(tmp_path):
    dump = tmp_path / "dump"
    dump.write_bytes(msgpack.packb({b"plans": [packed()], b"time_plans": {},
                                    b"current_time": 0}, use_bin_type=False))
    other = tmp_path / "other"
    other.write_bytes(b"FSNP\x00")
    assert is_original_dump(str(dump))
    assert not is_original_dump(str(other)) and not is_original_dump(str(tmp_path / "none"))
