"""Evaluation figures, computed on a scripted matcher so every number is known in advance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faq.errors import ContentError
from faq.evaluation import EvalQuery, evaluate, load_queries
from faq.matcher import Match, Matcher, Verdict, decide


class ScriptedMatcher:
    """Returns a fixed ranking per text."""

    def __init__(self, answers: dict[str, list[Match]]) -> None:
        self.answers = answers

    def match(self, text: str, limit: int = 5) -> list[Match]:
        return self.answers[text][:limit]

    def classify(self, text: str) -> Verdict:
        return decide(self.match(text))


def ticking(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


def test_figures_on_a_scripted_matcher() -> None:
    matcher = ScriptedMatcher(
        {
            "a": [Match("x", 0.9), Match("y", 0.2)],  # right, answered
            "b": [Match("y", 0.5), Match("x", 0.45)],  # wrong first, right second, suggested
            "c": [Match("z", 0.9)],  # confidently wrong
            "d": [Match("x", 0.1)],  # right first but rejected
            "off1": [Match("x", 0.1)],  # rejected: good
            "off2": [Match("x", 0.9)],  # answered: bad
        }
    )
    queries = [
        EvalQuery("a", "x", kind="plain"),
        EvalQuery("b", "x", kind="typo"),
        EvalQuery("c", "x", kind="typo"),
        EvalQuery("d", "x", kind="plain"),
        EvalQuery("off1", None, kind="out_of_scope"),
        EvalQuery("off2", None, kind="out_of_scope"),
    ]
    clock = ticking(0.002)
    report = evaluate(matcher, queries, repeats=1, timer=lambda: next(clock))
    assert report.queries == 6
    assert (report.in_scope, report.out_of_scope) == (4, 2)
    assert report.top1 == 0.5
    assert report.top3 == 0.75
    assert report.out_of_scope_rejection == 0.5
    assert report.false_rejection == 0.25
    assert report.wrong_answer == 0.25
    assert report.answered == 0.5
    assert report.top1_by_kind == {"plain": 1.0, "typo": 0.0}
    assert report.latency_p50_ms == pytest.approx(2.0)
    assert report.latency_p99_ms == pytest.approx(2.0)
    assert {f.text for f in report.failures} == {"b", "c", "d", "off2"}
    assert report.to_dict()["top3"] == 0.75


def test_evaluate_needs_queries(fixture_matcher: Matcher) -> None:
    with pytest.raises(ValueError, match="no queries"):
        evaluate(fixture_matcher, [])


def test_fixture_matcher_on_fixture_queries(fixture_matcher: Matcher) -> None:
    queries = load_queries(
        Path(__file__).parent / "fixtures" / "queries.yaml",
        known_ids=["shelters", "no_water", "street_lighting", "idp_registration", "no_heating"],
    )
    report = evaluate(fixture_matcher, queries, repeats=1)
    assert report.top1 == 1.0, report.failures
    assert report.out_of_scope_rejection == 1.0, report.failures
    assert report.latency_p99_ms > 0


def test_queries_file_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text('- {text: "де укриття", expect: shelters, kind: weird}\n', encoding="utf-8")
    with pytest.raises(ContentError, match="query #1: kind"):
        load_queries(path)
    path.write_text('- {text: "де укриття", expect: ghost}\n', encoding="utf-8")
    with pytest.raises(ContentError, match="unknown entry 'ghost'"):
        load_queries(path, known_ids=["shelters"])
    assert load_queries(path)[0] == EvalQuery("де укриття", "ghost", "uk", "plain")
