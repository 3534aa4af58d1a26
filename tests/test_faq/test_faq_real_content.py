"""The shipped content (faq/content) and labelled queries (faq/eval): valid, and matched well.

Skipped until the files exist. Figures are floors below the bench targets, so ordinary content
edits do not break the build but a real regression in the matcher does; no timing here.
"""

from __future__ import annotations

import pytest

from faq.evaluation import DEFAULT_QUERIES, evaluate, load_queries
from faq.knowledge import DEFAULT_CONTENT_DIR, KnowledgeBase, load_knowledge_base
from faq.matcher import Decision, Matcher

pytestmark = pytest.mark.skipif(
    not any(DEFAULT_CONTENT_DIR.glob("*.yaml")), reason="faq/content is not written yet"
)


@pytest.fixture(scope="module")
def real_kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def real_matcher(real_kb: KnowledgeBase) -> Matcher:
    return Matcher.from_knowledge_base(real_kb)


def test_shipped_content_is_valid(real_kb: KnowledgeBase) -> None:
    assert len(real_kb.sections) >= 3
    assert len(real_kb) >= 10
    for section in real_kb.sections:
        assert real_kb.entries_in(section.id), section.id


def test_every_entry_is_found_by_its_title(real_kb: KnowledgeBase, real_matcher: Matcher) -> None:
    missed = [
        entry.id
        for entry in real_kb.entries
        if entry.id not in [m.entry_id for m in real_matcher.match(entry.title.uk, limit=3)]
    ]
    assert not missed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("укритие", "shelters"),
        ("сховище", "shelters"),
        ("сирена", "air_alert"),
        ("документы потерял", "documents"),
        ("коли дадуть світло", "power_outage"),
    ],
)
def test_real_content_languages_and_typos(real_matcher: Matcher, text: str, expected: str) -> None:
    assert real_matcher.match(text)[0].entry_id == expected


@pytest.mark.parametrize(
    "text", ["привіт", "добрий день", "як справи", "скинь анекдот", "яка погода завтра"]
)
def test_real_content_small_talk_is_unknown(real_matcher: Matcher, text: str) -> None:
    assert real_matcher.classify(text).decision is Decision.UNKNOWN


@pytest.mark.skipif(not DEFAULT_QUERIES.exists(), reason="faq/eval/queries.yaml not written yet")
def test_quality_floor_on_labelled_queries(real_kb: KnowledgeBase, real_matcher: Matcher) -> None:
    queries = load_queries(known_ids=[e.id for e in real_kb.entries])
    report = evaluate(real_matcher, queries, repeats=1)
    assert report.top3 >= 0.93, report.failures
    assert report.top1 >= 0.85, report.failures
    assert report.out_of_scope_rejection >= 0.75, report.failures
    assert report.false_rejection <= 0.10, report.failures


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("скиньте адреси укриттів у Саксаганському районі", "shelters"),
        ("графік вивезення сміття в Металургійному районі", "waste"),
        ("де ЦНАП у Тернівському районі", "cnap"),
    ],
)
def test_a_district_does_not_pull_a_question_elsewhere(
    real_matcher: Matcher, text: str, expected: str
) -> None:
    assert real_matcher.match(text)[0].entry_id == expected


@pytest.mark.parametrize(
    ("text", "entries"),
    [("блекаут", {"blackout", "power_outage"}), ("документи", {"documents", "emergency_bag"})],
)
def test_a_keyword_of_several_entries_is_offered_not_answered(
    real_matcher: Matcher, text: str, entries: set[str]
) -> None:
    verdict = real_matcher.classify(text)
    assert verdict.decision is Decision.SUGGEST
    assert entries <= {m.entry_id for m in verdict.matches}
