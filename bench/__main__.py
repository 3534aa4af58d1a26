"""``python -m bench`` (``make bench``): run every benchmark, print one table with the targets
beside the figures, and write ``bench/results/<name>.json`` plus ``summary.json``.

Each module is imported lazily and run on its own: one that is missing (a feature not merged
yet) is reported "not available", one that fails is reported with its error, and the others
still run; the exit status is then 1. ``--only webhook,scale`` (or ``python -m bench scale``)
runs some of them. ``--backend sqlite|postgres|both`` (default both) chooses the databases of
the benchmarks that measure one (``scale``, ``webhook``): ``python -m bench scale webhook
--backend postgres`` runs the PostgreSQL figures alone (beside the SQLite bot's, in webhook's
case). PostgreSQL is reached at ``BENCH_POSTGRES_URL`` (``bench.postgres``); a server out of
reach fails those figures with one line within seconds.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import Row, print_rows, write_json

# (name for --only, module exposing run() -> dict, section label in the summary)
BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    ("webhook", "bench.webhook_bench", "webhook"),
    ("crisis", "bench.crisis_bench", "crisis"),
    ("faq", "bench.faq_bench", "consultations"),
    ("notify", "bench.notify_bench", "notifications"),
    ("scale", "bench.scale_bench", "scale"),
    ("startup", "bench.startup_bench", "startup"),
)


def rows_of(section: str, result: dict[str, Any]) -> list[Row]:
    """The summary rows of a module's result: its ``rows`` if it gives them, else the FAQ
    benchmark's targets, else its top-level numbers."""
    given = result.get("rows")
    if isinstance(given, list):
        return [Row(**row) for row in given if isinstance(row, dict)]
    if "targets" in result and isinstance(result.get("runs"), list):
        return _targets_rows(section, result)
    if isinstance(result.get("targets"), dict):
        return _flat_targets_rows(section, result)
    return [
        Row(section, key, value)
        for key, value in result.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ][:12]


def _targets_rows(section: str, result: dict[str, Any]) -> list[Row]:
    """``bench.faq_bench``'s shape: per run a report, targets by field (latency: lower)."""
    rows: list[Row] = []
    targets: dict[str, float] = result["targets"]
    for run in result["runs"]:
        if not run.get("available"):
            rows.append(Row(section, f"{run.get('label')}", "not available"))
            continue
        report, passes = run.get("report", {}), run.get("passes", {})
        for field, target in targets.items():
            lower = "latency" in field or field.endswith("_ms")
            rows.append(
                Row(section, f"{run.get('label')}: {field}", report.get(field),
                    "ms" if field.endswith("_ms") else "",
                    f"< {target:g}" if lower else f">= {target:g}", passes.get(field))
            )  # fmt: skip
    return rows


def _flat_targets_rows(section: str, result: dict[str, Any]) -> list[Row]:
    """Figures beside ``targets`` at the top level (``bench.notify_bench``'s shape): a target
    of 0 is a ceiling (violations, losses), a latency is a ceiling, anything else a floor."""
    rows: list[Row] = []
    for field, target in result["targets"].items():
        value = result.get(field)
        if not isinstance(value, int | float):
            continue
        ceiling = target == 0 or "latency" in field or field.endswith("_ms")
        ok = value <= target if ceiling else value >= target
        sign = "<=" if ceiling else ">="
        rows.append(Row(section, field, value, "", f"{sign} {target:g}", ok))
    extra = [
        key
        for key, value in result.items()
        if key not in result["targets"]
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]
    note = ", ".join(f"{key} {result[key]:g}" for key in extra[:8])
    if rows and note:
        rows[0] = Row(**{**rows[0].as_dict(), "note": note})
    return rows


def run_one(
    name: str, module_name: str, section: str, *, backend: str = "both"
) -> tuple[list[Row], dict[str, Any]]:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return [Row(section, f"{name} benchmark", "not available", note=module_name)], {
                "available": False
            }
        raise
    runner: Callable[..., dict[str, Any]] = module.run
    # Only the benchmarks that measure a database take a backend.
    options = {"backend": backend} if "backend" in inspect.signature(runner).parameters else {}
    if not options and backend == "postgres":
        return [], {"available": True, "skipped": "measures no database"}
    started = time.perf_counter()
    result = runner(**options)
    seconds = time.perf_counter() - started
    status = {"available": True, "seconds": round(seconds, 1)}
    if result.get("errors"):
        status["errors"] = result["errors"]
    return rows_of(section, result), status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    names = [name for name, _, _ in BENCHMARKS]
    parser.add_argument("names", nargs="*", metavar="NAME", help="run only these: " + ", ".join(
        names))  # fmt: skip
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(names))
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both",
                        help="the database(s) of scale and webhook (default both)")  # fmt: skip
    args = parser.parse_args(argv)
    chosen = {name.strip() for name in args.only.split(",") if name.strip()} | set(args.names)
    unknown = sorted(chosen - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.WARNING)
    rows: list[Row] = []
    status: dict[str, Any] = {}
    started = time.perf_counter()
    for name, module_name, section in BENCHMARKS:
        if chosen and name not in chosen:
            continue
        print(f"\n=== {name} ({module_name}) ===", flush=True)
        try:
            found, status[name] = run_one(name, module_name, section, backend=args.backend)
        except Exception as error:  # a benchmark's failure must not hide the others' figures
            traceback.print_exc()
            found = [
                Row(
                    section,
                    f"{name} benchmark",
                    "failed",
                    note=f"{type(error).__name__}: {error}"[:120],
                )
            ]
            status[name] = {"available": True, "error": repr(error)}
        rows.extend(found)
    total = time.perf_counter() - started
    print_rows(rows, title=f"Summary ({platform.python_version()}, {total:.0f} s)")
    missed = [row for row in rows if row.ok is False]
    failed = [name for name, state in status.items() if state.get("error") or state.get("errors")]
    write_json(
        "summary",
        {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "seconds": round(total, 1),
            "benchmarks": status,
            "rows": [row.as_dict() for row in rows],
        },
    )
    print(f"\n{len(missed)} figure(s) miss their target; results in bench/results/")
    if failed:
        print(f"failed: {', '.join(failed)} (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
