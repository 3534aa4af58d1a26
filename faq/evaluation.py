"""Measuring the matcher on labelled queries: accuracy, rejection of off-topic text, latency."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from faq.errors import ContentError, ContentProblem
from faq.matcher import Decision, Match, Verdict

__all__ = [
    "CRISIS_DEV_SETS",
    "DEFAULT_QUERIES",
    "EVAL_DIR",
    "EvalFailure",
    "EvalQuery",
    "EvalReport",
    "SupportsMatch",
    "evaluate",
    "load_queries",
]

logger = logging.getLogger(__name__)

EVAL_DIR = Path(__file__).resolve().parent / "eval"
DEFAULT_QUERIES = EVAL_DIR / "queries.yaml"
# The crisis development sets, one a round, in ``EVAL_DIR``: the rules and the examples file are
# written against them (rounds 5 to 8 were the held-out sets of rounds 4 to 7, each measured once).
CRISIS_DEV_SETS = (
    "crisis_dev.yaml",
    "crisis_dev2.yaml",
    "crisis_dev3.yaml",
    "crisis_dev4.yaml",
    "crisis_dev5.yaml",
    "crisis_dev6.yaml",
    "crisis_dev7.yaml",
    "crisis_dev8.yaml",
)

Kind = Literal["plain", "russian", "mixed", "typo", "paraphrase", "english", "out_of_scope"]


class SupportsMatch(Protocol):
    """Anything that ranks entries for a text the way :class:`faq.matcher.Matcher` does."""

    def match(self, text: str, limit: int = 5) -> list[Match]: ...

    def classify(self, text: str) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class EvalQuery:
    """A labelled message: ``expect`` is the right entry id, or None if the bot must not know."""

    text: str
    expect: str | None
    lang: str = "uk"
    kind: str = "plain"


@dataclass(frozen=True, slots=True)
class EvalFailure:
    """A query the matcher got wrong, with what it did instead."""

    text: str
    expect: str | None
    kind: str
    decision: str
    got: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Figures of one evaluation run; shares are in [0, 1], latencies in milliseconds."""

    queries: int
    in_scope: int
    out_of_scope: int
    top1: float
    top3: float
    out_of_scope_rejection: float
    false_rejection: float
    wrong_answer: float
    answered: float
    top1_by_kind: dict[str, float]
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    failures: tuple[EvalFailure, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class _QueryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    expect: str | None
    lang: str = "uk"
    kind: Kind = "plain"


def load_queries(
    path: Path = DEFAULT_QUERIES, known_ids: Iterable[str] | None = None
) -> list[EvalQuery]:
    """Read labelled queries; with ``known_ids``, an ``expect`` naming no entry is a problem too."""
    name = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContentError(
            [ContentProblem(file=name, message=f"cannot read queries: {exc}")]
        ) from None
    try:
        rows = TypeAdapter(list[_QueryFile]).validate_python(data)
    except ValidationError as exc:
        problems = [
            ContentProblem(
                file=name,
                message=f"query #{int(e['loc'][0]) + 1 if e['loc'] else '?'}: "
                f"{'.'.join(map(str, e['loc'][1:])) or 'item'}: {e['msg']}",
            )
            for e in exc.errors()
        ]
        raise ContentError(problems) from None
    known = None if known_ids is None else set(known_ids)
    if known is not None:
        unknown = [
            ContentProblem(
                file=name, message=f"query {row.text!r} expects unknown entry {row.expect!r}"
            )
            for row in rows
            if row.expect is not None and row.expect not in known
        ]
        if unknown:
            raise ContentError(unknown)
    return [EvalQuery(text=r.text, expect=r.expect, lang=r.lang, kind=r.kind) for r in rows]


def evaluate(
    matcher: SupportsMatch,
    queries: Sequence[EvalQuery],
    *,
    repeats: int = 3,
    timer: Callable[[], float] = time.perf_counter,
) -> EvalReport:
    """Run every query through ``matcher``; each is timed ``repeats`` times after one warm-up."""
    if not queries:
        raise ValueError("no queries to evaluate")
    latencies: list[float] = []
    inside = [q for q in queries if q.expect is not None]
    outside = [q for q in queries if q.expect is None]
    hits1 = hits3 = rejected_in = rejected_out = wrong = answered = 0
    kind_total: dict[str, int] = defaultdict(int)
    kind_hits: dict[str, int] = defaultdict(int)
    failures: list[EvalFailure] = []
    for query in queries:
        matches = matcher.match(query.text, limit=5)
        verdict = matcher.classify(query.text)
        for _ in range(repeats):
            start = timer()
            matcher.classify(query.text)
            latencies.append((timer() - start) * 1000)
        ranked = tuple(m.entry_id for m in matches)
        offered = tuple(m.entry_id for m in verdict.matches)
        if query.expect is None:
            if verdict.decision is Decision.UNKNOWN:
                rejected_out += 1
            else:
                failures.append(
                    EvalFailure(query.text, None, query.kind, verdict.decision.value, offered)
                )
            continue
        kind_total[query.kind] += 1
        top1 = ranked[:1] == (query.expect,)
        hits1 += top1
        kind_hits[query.kind] += top1
        hits3 += query.expect in ranked[:3]
        if verdict.decision is Decision.UNKNOWN:
            rejected_in += 1
        if verdict.decision is Decision.ANSWER:
            answered += 1
            wrong += offered[0] != query.expect
        if not top1 or verdict.decision is Decision.UNKNOWN or query.expect not in offered:
            failures.append(
                EvalFailure(
                    query.text, query.expect, query.kind, verdict.decision.value, ranked[:3]
                )
            )
    p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
    return EvalReport(
        queries=len(queries),
        in_scope=len(inside),
        out_of_scope=len(outside),
        top1=_share(hits1, len(inside)),
        top3=_share(hits3, len(inside)),
        out_of_scope_rejection=_share(rejected_out, len(outside)),
        false_rejection=_share(rejected_in, len(inside)),
        wrong_answer=_share(wrong, len(inside)),
        answered=_share(answered, len(inside)),
        top1_by_kind={k: _share(kind_hits[k], n) for k, n in sorted(kind_total.items())},
        latency_p50_ms=round(p50, 3),
        latency_p95_ms=round(p95, 3),
        latency_p99_ms=round(p99, 3),
        failures=tuple(failures),
    )


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
