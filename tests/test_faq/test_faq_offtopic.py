"""Out-of-scope examples: questions the line does not answer get an honest "I don't know"."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.errors import ContentError
from faq.knowledge import load_knowledge_base
from faq.matcher import Decision, Matcher
from faq.offtopic import load_offtopic


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_knowledge_base(load_knowledge_base(), offtopic=load_offtopic())


@pytest.mark.parametrize(
    "text",
    [
        "курс долара",
        "рецепт борщу",
        "who won the match yesterday",
        # code and noise: "residents" alone once suggested residence registration
        "'; DROP TABLE residents; --",
        "asdfghjkl",
    ],
)
def test_unrelated_questions_are_not_offered_a_topic(matcher: Matcher, text: str) -> None:
    assert matcher.classify(text).decision is Decision.UNKNOWN


@pytest.mark.parametrize(
    ("text", "entry"),
    [("де найближче укриття", "shelters"), ("where is the nearest shelter", "shelters")],
)
def test_questions_in_scope_still_find_their_entry(matcher: Matcher, text: str, entry: str) -> None:
    verdict = matcher.classify(text)
    assert verdict.decision is not Decision.UNKNOWN
    assert verdict.best is not None
    assert verdict.best.entry_id == entry
    # Off-topic groups are never offered as matches.
    assert all(not m.entry_id.startswith("money") for m in matcher.match("курс долара"))


def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "offtopic.yaml"
    path.write_text("groups:\n  - id: Bad-Id\n    examples: [one]\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_offtopic(path)
    assert "groups.0.id" in str(caught.value)
    assert "groups.0.examples" in str(caught.value)
