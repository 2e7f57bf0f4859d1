"""``FILE.failures`` (:mod:`forsun_store_mem.failures_file`): replay, a torn last line,
compaction."""

from __future__ import annotations

from pathlib import Path

from forsun.store.failures import FailureList
from forsun.testing.store_suite import build_failure
from forsun_store_mem import failures_file
from forsun_store_mem.failures_file import FailuresFile


def reload(path: Path, limit: int = 10) -> FailureList:
    failures = FailureList(limit)
    loaded = FailuresFile(str(path))
    loaded.load(failures)
    loaded.close()
    return failures


def test_a_torn_last_line_is_ignored_and_the_file_rewritten(tmp_path: Path) -> None:
    failures = FailureList(10)
    file = FailuresFile(str(tmp_path / "db"))
    file.load(failures)
    kept = build_failure("kept")
    failures.add(kept)
    file.append({"add": kept.to_dict()}, failures)
    file.close()
    with open(tmp_path / "db.failures", "ab") as f:
        f.write(b'{"add": {"key": "torn", "du')  # a crash mid-write
    assert list(reload(tmp_path / "db")) == [kept]
    assert (tmp_path / "db.failures").read_bytes().endswith(b"\n")
    assert list(reload(tmp_path / "db")) == [kept]


def test_the_file_is_compacted_and_keeps_the_bound_and_dropped_count(tmp_path: Path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(failures_file, "COMPACT_SLACK", 5)
    failures = FailureList(3)
    file = FailuresFile(str(tmp_path / "db"))
    file.load(failures)
    for i in range(40):
        failure = build_failure(f"k{i}", failed_at=float(i))
        failures.add(failure)
        file.append({"add": failure.to_dict()}, failures)
    failures.remove([build_failure("k39").id])  # as the store does: the list first
    file.append({"remove": [build_failure("k39").id]}, failures)
    file.close()
    lines = (tmp_path / "db.failures").read_bytes().count(b"\n")
    assert lines <= 2 * 3 + 5 + 1, "never compacted"
    again = reload(tmp_path / "db", limit=3)
    assert [failure.key for failure in again] == ["k37", "k38"]
    assert again.dropped == 37
