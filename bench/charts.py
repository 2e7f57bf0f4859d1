"""PNG charts next to latest.md: the lateness distribution of each precision run (forsund,
the ideal timer, a compared server) and, for create, plans/s and server CPU per call of
forsund, a compared server and the bare baseline. matplotlib is in the dev group only:
without it, no charts (and a line on stderr says so)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .report import Row

#: Which create rows the charts show: (label on the chart, figure prefix in the rows).
CREATE_FIGURES = (("Thrift ping", "Thrift ping, 1 connection"),
                  ("Thrift createTimeout", "Thrift createTimeout, 1 connection"),
                  ("Thrift createTimeout, 4 conn.", "Thrift createTimeout, 4 connections"),
                  ("HTTP PUT /v1/plan", "HTTP PUT /v1/plan"))


def draw(out: Path, rows: list[Row], lateness: dict[str, dict[str, tuple[float, ...]]]
         ) -> list[tuple[str, str]]:
    """Write the charts into ``out``; ``(title, file name)`` of each, for the report."""
    try:
        import matplotlib
    except ImportError:
        print("[bench] no charts: matplotlib is not installed (uv sync installs the dev "
              "group)", file=sys.stderr)
        return []
    matplotlib.use("Agg")
    charts = []
    for label, samples in lateness.items():
        name = "lateness-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") + ".png"
        title = f"Lateness at the receiver, {label}"
        if _lateness(out / name, title, samples):
            charts.append((title, name))
    if _create(out / "create.png", rows):
        charts.append(("Single creates: plans/s and server CPU per call", "create.png"))
    return charts


def _lateness(path: Path, title: str, samples: dict[str, tuple[float, ...]]) -> bool:
    """Cumulative distribution of each target's lateness (ms, log scale)."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for target, values in samples.items():
        ordered = sorted(max(value, 0.01) for value in values)
        if not ordered:
            continue
        fractions = [(index + 1) / len(ordered) * 100 for index in range(len(ordered))]
        axes.step(ordered, fractions, where="post", label=f"{target} ({len(ordered):,})")
        drawn = True
    if drawn:
        axes.set_xscale("log")
        axes.set_xlabel("lateness: receive time - due second (ms, log scale)")
        axes.set_ylabel("firings received by then (%)")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    plt.close(figure)
    return drawn


def _create(path: Path, rows: list[Row]) -> bool:
    """Grouped bars: plans/s and server CPU µs per call, per server and the bare baseline."""
    import matplotlib.pyplot as plt

    rates: dict[str, dict[str, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.scenario != "create" or row.value is None or " vs " in row.target:
            continue
        for label, prefix in CREATE_FIGURES:
            if not row.figure.startswith(prefix):
                continue
            into = cpu if row.figure.endswith("server CPU per call") else rates
            into.setdefault(row.target, {})[label] = row.value
            if row.baseline_value is not None:
                into.setdefault("bare baseline", {}).setdefault(label, row.baseline_value)
    if not rates:
        return False
    for data in (rates, cpu):  # the bare baseline last
        if "bare baseline" in data:
            data["bare baseline"] = data.pop("bare baseline")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = [label for label, _ in CREATE_FIGURES]
    for axes, data, unit in ((left, rates, "plans (calls) per second"),
                             (right, cpu, "server CPU per call (µs)")):
        width = 0.8 / max(1, len(data))
        for index, (target, values) in enumerate(data.items()):
            axes.bar([x + index * width for x in range(len(labels))],
                     [values.get(label, 0) for label in labels], width, label=target)
        axes.set_xticks([x + width * (len(data) - 1) / 2 for x in range(len(labels))],
                        labels, rotation=15)
        axes.set_ylabel(unit)
        axes.grid(True, axis="y", alpha=0.3)
        axes.legend()
    figure.suptitle("Single creates, same client, same run")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
