"""Benchmark of the crisis detector: recall per category and false alarms.

Run ``python -m bench --only crisis`` (or ``python -m bench.crisis_bench --dev-only --misses``
while tuning: misses are listed for the development sets only). Sets:
``crisis_dev*.yaml`` (eight rounds) are what the rules were written against (``crisis_dev5.yaml``
to ``crisis_dev8.yaml`` were the held-out sets of rounds 4 to 7, each measured once, then tuned
on); ``crisis_holdout5.yaml`` was written by someone who never saw the rules or the earlier sets,
before round 8, and is never tuned on.
A message counts as recognised when its category is among those detected (its numbers are then
in the first reply). False alarms are counted on every ordinary question of the FAQ sets and,
separately, on the crisis sets' controls (ordinary messages written to share words with crises).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from faq.crisis import Crisis, load_crisis
from faq.evaluation import CRISIS_DEV_SETS, EVAL_DIR

EVAL = EVAL_DIR
RESULTS = Path(__file__).resolve().parent / "results" / "crisis.json"
DEV_SETS = CRISIS_DEV_SETS
HOLDOUT = "crisis_holdout5.yaml"
CRISIS_SETS = (*DEV_SETS, HOLDOUT)
ORDINARY_DEV_SETS = ("queries.yaml", "dev.yaml")
ORDINARY_SETS = (*ORDINARY_DEV_SETS, "holdout.yaml", "holdout2.yaml")
RECALL_TARGET = 1.0
FALSE_ALARM_TARGET = 0.01
LATENCY_TARGET_MS = 20.0


def _rows(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load((EVAL / name).read_text(encoding="utf-8"))
    return rows


def run(*, write: bool = True, misses: bool = False, holdout: bool = True) -> dict[str, Any]:
    """Measure, print, write ``bench/results/crisis.json``; return the figures and summary rows.

    ``holdout=False`` measures the development sets only (while tuning: the held-out set is
    neither run nor written, so its misses cannot leak into the rules)."""
    started = time.perf_counter()
    _content, detector = load_crisis()
    load_seconds = time.perf_counter() - started
    latencies: list[float] = []

    def detect(text: str) -> Crisis | None:
        begin = time.perf_counter()
        crisis = detector.detect(text)
        latencies.append(time.perf_counter() - begin)
        return crisis

    figures: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for name in CRISIS_SETS if holdout else DEV_SETS:
        total: Counter[str] = Counter()
        found: Counter[str] = Counter()
        missed: list[tuple[str, str]] = []
        alarms: list[str] = []
        for row in _rows(name):
            crisis = detect(row["text"])
            if row["expect"] is None:
                total["control"] += 1
                if crisis is not None:
                    alarms.append(row["text"])
                continue
            total[row["expect"]] += 1
            if crisis is not None and row["expect"] in crisis.categories:
                found[row["expect"]] += 1
            else:
                missed.append((row["expect"], row["text"]))
        label = name.removesuffix(".yaml")
        crises = sum(n for k, n in total.items() if k != "control")
        recall = {k: round(found[k] / n, 3) for k, n in sorted(total.items()) if k != "control"}
        overall = round(sum(found.values()) / crises, 3)
        control_rate = round(len(alarms) / total["control"], 3) if total["control"] else 0.0
        figures[label] = {
            "crises": crises,
            "recall": overall,
            "recall_by_category": recall,
            "controls": total["control"],
            "control_alarms": control_rate,
        }
        for category, value in recall.items():
            rows.append(_row(f"{label}: recall {category}", value, ">=", RECALL_TARGET))
        rows.append(_row(f"{label}: recall, all {crises}", overall, ">=", RECALL_TARGET))
        rows.append(
            {"section": "crisis", "metric": f"{label}: alarms on its {total['control']} controls",
             "value": control_rate}
        )  # fmt: skip
        if misses:
            print(f"\n{label}: missed")
            for category, text in missed:
                print(f"  [{category}] {text}")
            print(f"{label}: alarms")
            for text in alarms:
                print(f"  {text}")
    # While tuning, the held-out FAQ questions are left out too: their alarms would be listed.
    ordinary_sets = ORDINARY_SETS if holdout else ORDINARY_DEV_SETS
    ordinary = [row["text"] for name in ordinary_sets for row in _rows(name)]
    raised = [text for text in ordinary if detect(text)]
    rate = round(len(raised) / len(ordinary), 4)
    figures["ordinary_questions"] = {"count": len(ordinary), "alarms": len(raised), "rate": rate}
    rows.append(
        _row(f"false alarms on {len(ordinary)} ordinary questions", rate, "<=", FALSE_ALARM_TARGET)
    )
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = round(cuts[49] * 1000, 2), round(cuts[98] * 1000, 2)
    figures["latency_ms"] = {"p50": p50, "p99": p99, "messages": len(latencies)}
    figures["load_seconds"] = round(load_seconds, 2)
    rows.append(_row(f"latency p99 per message, ms (p50 {p50})", p99, "<=", LATENCY_TARGET_MS))
    rows.append({"section": "crisis", "metric": "load, s", "value": round(load_seconds, 2)})
    for row in rows:
        target = row.get("target", "")
        mark = "" if row.get("ok") is None else (" ok" if row["ok"] else " !!")
        print(f"{row['metric']:<52}{row['value']!s:>8}  {target}{mark}")
    if misses:
        print("\nordinary questions that raised an alarm:")
        for text in raised:
            print(f"  {text}")
    result = {**figures, "rows": rows}
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return result


def _row(metric: str, value: float, sign: str, target: float) -> dict[str, Any]:
    ok = value >= target if sign == ">=" else value <= target
    return {"section": "crisis", "metric": metric, "value": value,
            "target": f"{sign} {target:g}", "ok": ok}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--misses", action="store_true", help="list misses and alarms")
    parser.add_argument(
        "--dev-only", action="store_true", help="development sets only (no held-out, no file)"
    )
    args = parser.parse_args()
    if args.misses and not args.dev_only:
        parser.error("--misses lists development-set misses only: add --dev-only")
    run(misses=args.misses, holdout=not args.dev_only, write=not args.dev_only)


if __name__ == "__main__":
    main()
