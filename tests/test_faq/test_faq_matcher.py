"""The matcher on the fixture content: languages, typos, off-topic text, decisions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from faq.content_model import Entry, Keywords, Localized
from faq.knowledge import KnowledgeBase
from faq.matcher import (
    ANSWER_MARGIN,
    ANSWER_THRESHOLD,
    SUGGEST_LIMIT,
    UNKNOWN_THRESHOLD,
    Decision,
    Match,
    Matcher,
    decide,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("де найближче укриття", "shelters"),
        ("укриття зачинене, не можемо зайти", "shelter_closed"),
        ("на вулиці не горять ліхтарі", "street_lighting"),
        ("як оформити довідку впо", "idp_registration"),
        ("немає опалення", "no_heating"),
        ("гуманітарна допомога", "humanitarian_aid"),
    ],
)
def test_ukrainian(fixture_matcher: Matcher, text: str, expected: str) -> None:
    assert fixture_matcher.match(text)[0].entry_id == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("где бомбоубежище", "shelters"),
        ("фонари не светят", "street_lighting"),
        ("как получить справку переселенца", "idp_registration"),
        ("нет воды", "no_water"),
        ("включите отопление", "no_heating"),
    ],
)
def test_russian(fixture_matcher: Matcher, text: str, expected: str) -> None:
    assert fixture_matcher.match(text)[0].entry_id == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("укритя", "shelters"),
        ("де укритіє", "shelters"),
        ("ліхтарі не горять", "street_lighting"),
        ("гуманитарка де дают", "humanitarian_aid"),
        ("справка впо", "idp_registration"),
        ("отоплєніє нема", "no_heating"),
        ("виплати переселенцям", "idp_payments"),
    ],
)
def test_surzhyk_and_typos(fixture_matcher: Matcher, text: str, expected: str) -> None:
    assert fixture_matcher.match(text)[0].entry_id == expected


@pytest.mark.parametrize(
    "text", ["яка погода завтра", "скинь анекдот", "хто виграв футбол", "рецепт борщу", "🙂"]
)
def test_out_of_scope_is_unknown(fixture_matcher: Matcher, text: str) -> None:
    verdict = fixture_matcher.classify(text)
    assert verdict.decision is Decision.UNKNOWN
    assert verdict.matches == ()
    assert verdict.best is None


def test_clear_question_is_answered(fixture_matcher: Matcher) -> None:
    verdict = fixture_matcher.classify("где ближайшее бомбоубежище")
    assert verdict.decision is Decision.ANSWER
    assert [m.entry_id for m in verdict.matches] == ["shelters"]


def twin(entry_id: str, title: str, question: str, keyword: str = "вода") -> Entry:
    return Entry(
        id=entry_id,
        section_id="utilities",
        title=Localized(title, title),
        answer=Localized("...", "..."),
        short=Localized("...", "..."),
        keywords=Keywords(uk=(keyword,)),
        questions=(question, f"{question} вже тиждень", f"{question} у будинку"),
    )


def test_vague_message_gets_suggestions() -> None:
    matcher = Matcher(
        [
            twin("water_outage", "Немає води", "відключили воду"),
            twin("water_quality", "Брудна вода", "іржава вода з крана"),
            twin("heating", "Опалення", "холодні батареї", keyword="опалення"),
        ]
    )
    verdict = matcher.classify("вода")
    assert verdict.decision is Decision.SUGGEST
    assert {m.entry_id for m in verdict.matches} == {"water_outage", "water_quality"}
    assert matcher.classify("іржава вода з крана").decision is Decision.ANSWER


def test_ranking_is_sorted_bounded_and_limited(fixture_matcher: Matcher) -> None:
    matches = fixture_matcher.match("вода в укритті", limit=4)
    assert 1 <= len(matches) <= 4
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s <= 1.0 for s in scores)
    assert len({m.entry_id for m in matches}) == len(matches)
    assert fixture_matcher.match("вода в укритті", limit=0) == []


def test_empty_text_matches_nothing(fixture_matcher: Matcher) -> None:
    assert fixture_matcher.match("") == []
    assert fixture_matcher.match("  ?!  ") == []
    assert fixture_matcher.classify("").decision is Decision.UNKNOWN


def test_every_entry_finds_itself_by_title(fixture_kb: KnowledgeBase) -> None:
    matcher = Matcher.from_knowledge_base(fixture_kb)
    for entry in fixture_kb.entries:
        assert matcher.match(entry.title.uk)[0].entry_id == entry.id, entry.id


def test_a_matcher_needs_entries() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        Matcher([])


class ConstantEmbedder:
    """An embedder that sees every text as about the entry named in it, or about nothing."""

    def __init__(self, axis: dict[str, int]) -> None:
        self.axis = axis
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        vectors = np.zeros((len(texts), len(self.axis) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            hits = [i for word, i in self.axis.items() if word in text.lower()]
            vectors[row, hits[0] if hits else len(self.axis)] = 1.0
        return vectors


def test_embedder_is_used_and_cannot_rescue_off_topic_text(fixture_kb: KnowledgeBase) -> None:
    embedder = ConstantEmbedder({"укритт": 0, "ліхтар": 1})
    matcher = Matcher.from_knowledge_base(fixture_kb, embedder=embedder)
    assert matcher.semantic
    assert matcher.match("де укриття")[0].entry_id == "shelters"
    assert embedder.calls == 2  # once for the entries, once for the message
    assert matcher.classify("скинь анекдот").decision is Decision.UNKNOWN


def ranked(*scores: float) -> list[Match]:
    return [Match(f"e{i}", s) for i, s in enumerate(scores)]


def test_decide_unknown_below_threshold() -> None:
    assert decide([]).decision is Decision.UNKNOWN
    assert decide(ranked(UNKNOWN_THRESHOLD - 0.01)).decision is Decision.UNKNOWN


def test_decide_answer_needs_score_and_margin() -> None:
    clear = decide(ranked(ANSWER_THRESHOLD, ANSWER_THRESHOLD - ANSWER_MARGIN - 0.01))
    assert clear.decision is Decision.ANSWER
    assert clear.matches == (Match("e0", ANSWER_THRESHOLD),)
    close = decide(ranked(0.95, 0.95 - ANSWER_MARGIN / 2))
    assert close.decision is Decision.SUGGEST
    assert [m.entry_id for m in close.matches] == ["e0", "e1"]


def test_decide_suggest_keeps_only_close_candidates() -> None:
    verdict = decide(ranked(ANSWER_THRESHOLD - 0.01, 0.4, 0.35, 0.34, 0.05))
    assert verdict.decision is Decision.SUGGEST
    assert len(verdict.matches) <= SUGGEST_LIMIT
    assert verdict.matches[0].entry_id == "e0"
    assert "e4" not in [m.entry_id for m in verdict.matches]


def test_only_the_start_of_a_long_message_is_matched(fixture_matcher: Matcher) -> None:
    filler = " ".join(f"zzq{i}" for i in range(60))  # words that share nothing with content
    assert fixture_matcher.match(f"укриття {filler}")[0].entry_id == "shelters"
    assert fixture_matcher.match(f"{filler} укриття") == []


def test_neighbours_is_the_mean_of_each_entrys_best_examples(fixture_matcher: Matcher) -> None:
    from faq.matcher import NEIGHBOURS  # noqa: PLC0415
    from faq.text import content_tokens  # noqa: PLC0415

    for text in ("немає води в квартирі", "де укриття", "рецепт борщу", "вода"):
        words = content_tokens(text)
        features = fixture_matcher._features(words)
        per_unit = fixture_matcher._units.cosine([features[w].units for w in words])
        owners = fixture_matcher._unit_owner
        expected = [
            float(np.sort(per_unit[owners == owner])[::-1][:NEIGHBOURS].mean())
            for owner in range(int(owners.max()) + 1)
        ]
        assert fixture_matcher._neighbours(per_unit) == pytest.approx(expected)
