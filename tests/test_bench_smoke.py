"""The benchmark's smoke run (``python -m bench --quick``): every scenario at a tiny size
against real servers, so that bench/ cannot rot. Only sanity is checked, never speed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from forsun.testing.services import in_ci, reachable

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("precision", "burst", "create", "bulkload", "memory", "startup", "catchup",
             "redis", "takeover", "migrate")
#: Figures that count firings that must not happen (missing, duplicate, early, lost).
MUST_BE_ZERO = ("fired early", "missing firings", "duplicate firings",
                "missing + duplicate", "lost or duplicated")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return (json.loads((out / "latest.json").read_text()),
            (out / "latest.md").read_text())


def redis_expected() -> bool:
    """The redis and takeover scenarios must produce figures under CI (where .ci/run
    starts Redis) or wherever Redis runs; elsewhere they report themselves skipped."""
    return in_ci() or reachable("127.0.0.1", 6379)


def by_scenario(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["scenario"]].append(row)
    return grouped


def test_every_scenario_is_in_the_table_and_the_json(results):
    data, markdown = results
    grouped = by_scenario(data["rows"])
    for scenario in SCENARIOS:
        assert grouped.get(scenario), f"no rows for {scenario}"
        assert f"| {scenario} |" in markdown
    failed = [row for row in data["rows"] if row["figure"] == "failed"]
    assert not failed, failed
    if redis_expected():
        assert all(row["figure"] != "skipped"
                   for row in grouped["redis"] + grouped["takeover"] + grouped["migrate"])


def test_the_run_records_the_machine_load(results):
    data, markdown = results
    assert "load average at start (1, 5, 15 min)" in data["meta"]
    assert "load average at end" in markdown
    ran = {name for entry in data["meta"]["scenarios"] for name in entry.split("+")}
    assert ran == set(SCENARIOS)


def test_figures_are_sane(results):
    data, _ = results
    for row in data["rows"]:
        if row["figure"] == "skipped":
            continue
        value, label = row["value"], f"{row['scenario']}: {row['figure']} = {row['value']}"
        assert value is not None and math.isfinite(value) and value >= 0, label
        if row["unit"].endswith("/s"):
            assert value > 0, label
        if row["baseline"]:
            assert row["baseline_value"] is not None and row["baseline_value"] > 0, label
            assert row["ratio"] is not None and row["ratio"] > 0, label
        if any(part in row["figure"] for part in MUST_BE_ZERO):
            assert value == 0, label
        if row["unit"] == "ms":
            assert value < 10_000, label
        if row["unit"] == "s":
            assert value < 120, label
        if row["unit"] == "B":
            assert 0 < value < 100_000, label


def test_precision_fired_every_plan_within_its_second(results):
    data, _ = results
    figures: dict[str, dict[str, float]] = defaultdict(dict)
    engine: dict[str, dict[str, float]] = defaultdict(dict)
    for row in by_scenario(data["rows"])["precision"]:
        rate, _, figure = row["figure"].partition(": ")
        if "noop action" in rate:  # the engine alone, forsund's own lateness
            engine[rate][figure.removeprefix("forsund's own lateness ")] = row["value"]
            continue
        figures[rate][figure] = row["value"]
    assert len(engine) == 2, engine.keys()  # on an empty store, and beside other plans
    for values in engine.values():
        assert values["missing firings"] == 0
        assert 0 <= values["p50"] <= values["p99"] < 1000
    assert len(figures) == 3, figures.keys()  # the two rates and a low one
    for rate, values in figures.items():
        assert values["missing firings"] == 0, rate
        assert values["fired within the due second"] > 50, rate
        assert 0 <= values["lateness p50"] <= values["lateness max"], rate
        assert 0 <= values["lateness p99 after the first second"] <= values["lateness max"]
