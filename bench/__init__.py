"""Benchmarks of the bot (``make bench`` = ``python -m bench``): speed, scale, start-up, memory.

Speed is measured here and never asserted by tests. Every benchmark module exposes
``run() -> dict`` (JSON-able) whose ``"rows"`` lists the figures for the summary table as
``Row.as_dict()`` values; ``bench.__main__`` runs them all and writes ``bench/results/``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS",
    "Row",
    "cpu_seconds",
    "median",
    "percentile",
    "print_rows",
    "rss_mb",
    "write_json",
]

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    """One figure: what, its value and unit, and the target beside it (``"< 100"``, ``">= 0.5"``,
    ``""`` when there is none); ``ok`` is None without a target."""

    section: str
    metric: str
    value: float | str | None
    unit: str = ""
    target: str = ""
    ok: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def checked(
        cls,
        section: str,
        metric: str,
        value: float | None,
        unit: str,
        *,
        below: float | None = None,
        at_least: float | None = None,
        note: str = "",
    ) -> Row:
        """A figure with a target: ``value < below`` or ``value >= at_least``."""
        if below is not None:
            target = f"< {below:g}"
            ok = value is not None and value < below
        elif at_least is not None:
            target = f">= {at_least:g}"
            ok = value is not None and value >= at_least
        else:
            return cls(section, metric, value, unit, note=note)
        return cls(section, metric, value, unit, target, ok, note)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_rows(rows: Sequence[Row], *, title: str | None = None) -> None:
    """The rows as one aligned table (section, metric, value, unit, target, verdict)."""
    if title:
        print(f"\n{title}")
    head = f"{'section':<14} {'metric':<44} {'value':>12} {'unit':<8} {'target':<10} ok"
    print(head)
    print("-" * len(head))
    for row in rows:
        verdict = {None: "", True: "ok", False: "!!"}[row.ok]
        line = (
            f"{row.section:<14} {row.metric:<44} {_cell(row.value):>12} {row.unit:<8} "
            f"{row.target:<10} {verdict}"
        )
        print(line.rstrip() + (f"   ({row.note})" if row.note else ""))


def write_json(name: str, data: dict[str, Any]) -> Path:
    """``bench/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    return path


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (``VmRSS`` of /proc/<pid>/status) in MiB; None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
