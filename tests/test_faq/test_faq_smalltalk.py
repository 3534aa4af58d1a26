"""Small talk and reactions are recognised; questions that contain a small-talk word are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.errors import ContentError
from faq.smalltalk import GROUPS, REACTION, default_smalltalk, load_smalltalk


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("👍", "approval"),
        ("ok", "approval"),
        ("ок", "approval"),
        ("Добре, зрозуміло", "approval"),
        ("Дякую!", "thanks"),
        ("спасибо большое", "thanks"),
        ("дякуб", "thanks"),  # one typo
        ("ок, дякую 🙏", "thanks"),  # thanks wins over approval
        ("Thank you so much", "thanks"),
        ("❤️", "thanks"),
        ("ти бот?", "bot"),
        ("ты бот?", "bot"),
        ("хто ти", "bot"),
        ("Привіт, ти бот?", "bot"),
        ("who are you?", "bot"),
        ("бля", "upset"),
        ("😡😡😡", "upset"),
        ("тупий бот", "upset"),
        ("привіт", "greeting"),
        ("Добрий день!", "greeting"),
        ("привет, как дела", "greeting"),
        ("hi", "greeting"),
        ("бувай", "goodbye"),
        ("до свидания", "goodbye"),
        ("хахаха", "laughter"),
        ("😂😂", "laughter"),
        ("🌻", REACTION),
        ("👍🏻", "approval"),
    ],
)
def test_small_talk_is_recognised(text: str, group: str) -> None:
    assert default_smalltalk().classify(text) == group


@pytest.mark.parametrize(
    "text",
    [
        "дякую, а де взяти довідку ВПО",
        "дякую, але я не хочу жити",
        "привіт, де найближче укриття",
        "бля, світла немає третій день",
        "ок 1520",
        "?",
        "...",
        "ну",
        "бот",
        "",
        "дякую " * 20,
    ],
)
def test_questions_and_other_texts_are_not_small_talk(text: str) -> None:
    assert default_smalltalk().classify(text) is None


def test_every_group_is_in_the_file() -> None:
    assert default_smalltalk().groups == GROUPS


def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "smalltalk.yaml"
    path.write_text(
        "max_words: 6\ngroups:\n"
        "  - id: thanks\n    phrases: [дякую]\n"
        "  - id: greeting\n    phrases: [дякую]\n    word_patterns: ['(']\n"
        "  - id: chatter\n    phrases: [ну]\n",
        encoding="utf-8",
    )
    with pytest.raises(ContentError) as caught:
        load_smalltalk(path)
    text = str(caught.value)
    assert "chatter has no answer" in text
    assert "group upset must appear once" in text
    assert "is also in thanks" in text
    assert "pattern '('" in text
