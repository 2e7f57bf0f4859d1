"""The results: one :class:`Row` per figure, written as a markdown table and as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

#: Scenario names in the order they run and are reported.
SCENARIOS = ("precision", "burst", "create", "bulkload", "memory", "startup", "catchup",
             "redis", "takeover", "migrate")


@attrs.define
class Goal:
    """A target a figure is reported against: ``text`` as shown, ``check(value) -> bool``."""

    text: str
    check: Callable[[float], bool] = attrs.field(eq=False)

    @classmethod
    def at_most(cls, limit: float, unit: str = "") -> Goal:
        return cls(f"≤ {limit:g}{unit}", lambda value: value <= limit)

    @classmethod
    def at_least(cls, limit: float, unit: str = "") -> Goal:
        return cls(f"≥ {limit:g}{unit}", lambda value: value >= limit)


@attrs.define
class Row:
    """One figure. ``value`` is None when it could not be measured (``note`` says why).

    ``baseline``/``baseline_value``: the same-run reference (e.g. a bare server) in the
    same unit; ``ratio`` = value / baseline_value (for durations: how many times slower).
    ``ratio_goal``: a goal on the ratio instead of the value."""

    scenario: str
    figure: str
    value: float | None
    unit: str
    target: str = "forsund"
    baseline: str = ""
    baseline_value: float | None = None
    goal: Goal | None = None
    ratio_goal: Goal | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """None unless value and baseline are both finite (and the baseline not 0)."""
        if _finite(self.value) is None or not _finite(self.baseline_value):
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        """Whether the goal is met (None without a goal or a value)."""
        if self.goal is not None and self.value is not None:
            return self.goal.check(self.value)
        if self.ratio_goal is not None and self.ratio is not None:
            return self.ratio_goal.check(self.ratio)
        return None

    def as_json(self) -> dict[str, Any]:
        goal = self.goal.text if self.goal else (
            f"ratio {self.ratio_goal.text}" if self.ratio_goal else "")
        return {"scenario": self.scenario, "figure": self.figure, "target": self.target,
                "value": _finite(self.value), "unit": self.unit, "baseline": self.baseline,
                "baseline_value": _finite(self.baseline_value), "ratio": _finite(self.ratio),
                "goal": goal, "met": self.met, "note": self.note}


def _finite(value: float | None) -> float | None:
    """``value``, or None for NaN/infinity (not representable in JSON)."""
    return value if value is not None and math.isfinite(value) else None


def number(value: float | None) -> str:
    """A figure as shown in the table: 3 significant digits, thousands separated."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(meta: dict[str, Any], rows: list[Row],
             charts: list[tuple[str, str]] | None = None) -> str:
    """The results as a markdown document: run facts, then one table row per figure, then
    ``charts`` (title, image file beside the document)."""
    lines = ["# forsun benchmark results", ""]
    for key, value in meta.items():
        if key != "scenarios":
            lines.append(f"- **{key}**: {value}")
    timings = meta.get("scenarios", {})
    if timings:
        lines += ["", "| scenario run | seconds | load before | load after | error |",
                  "|" + " --- |" * 5]
        for name, entry in timings.items():
            lines.append(f"| {name} | {entry.get('seconds', '')} | {entry.get('load_before', '')}"
                         f" | {entry.get('load_after', '')} | {_cell(entry.get('error', ''))} |")
    lines += ["", "| scenario | figure | target | value | baseline (same run) | ratio | goal "
              "| met | notes |", "|" + " --- |" * 9]
    for row in rows:
        value = f"{number(row.value)} {row.unit}".strip() if row.value is not None else "—"
        baseline = (f"{row.baseline}: {number(row.baseline_value)} {row.unit}".strip()
                    if row.baseline and _finite(row.baseline_value) is not None else "")
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        goal = row.goal.text if row.goal else (
            f"ratio {row.ratio_goal.text}" if row.ratio_goal else "")
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        cells = (row.scenario, row.figure, row.target, value, baseline, ratio, goal, met,
                 row.note)
        lines.append("| " + " | ".join(_cell(str(c)) for c in cells) + " |")
    for title, name in charts or ():
        lines += ["", f"![{title}]({name})"]
    return "\n".join(lines) + "\n"


def write(out: Path, meta: dict[str, Any], rows: list[Row],
          charts: list[tuple[str, str]] | None = None) -> tuple[Path, Path]:
    """Write ``latest.md`` (embedding ``charts``, already in ``out``) and ``latest.json``
    into ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out / "latest.md", out / "latest.json"
    md_path.write_text(markdown(meta, rows, charts), encoding="utf-8")
    json_path.write_text(json.dumps({"meta": meta, "rows": [r.as_json() for r in rows]},
                                    indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return md_path, json_path
