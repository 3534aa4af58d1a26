"""Folding Ukrainian, Russian and surzhyk spellings into one alphabet."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from faq.text import STOP_WORDS, content_tokens, fold, tokens


def test_ukrainian_and_russian_spellings_meet() -> None:
    assert fold("Укриття") == fold("укритя")
    assert fold("укрытие") == fold("укритіє")
    assert fold("Ґанок") == fold("ганок")
    assert fold("п’ятниця") == fold("пятниця") == fold("п'ятниця")
    assert fold("объявление") == fold("обявление")
    assert fold("ёлка") == fold("елка")


def test_punctuation_and_case_are_dropped() -> None:
    assert fold("  Де УКРИТТЯ?!  ") == "де укритя"
    assert tokens("ЦНАП, 1520; вода...") == ["цнап", "1520", "вода"]


def test_latin_look_alikes_inside_cyrillic_words() -> None:
    assert fold("укрuття") == fold("укриття")
    assert fold("cвітло") == fold("світло")
    assert fold("wifi") == "wifi"


def test_function_words_and_small_talk_are_removed() -> None:
    assert content_tokens("Підкажіть, будь ласка, де найближче укриття?") == [
        "наиближче",
        "укритя",
    ]
    assert content_tokens("де що як") == []
    assert content_tokens("Добрий день! Як справи?") == []
    assert content_tokens("допомога ООН") == ["допомога", "он"]
    assert fold("підкажіть") in STOP_WORDS


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@given(st.text(alphabet="абвгґдеєжзиіїйклмнопрстуфхцчшщьюяъыэё'’ ,.!?" + string.ascii_letters))
def test_fold_output_uses_the_folded_alphabet(text: str) -> None:
    folded = fold(text)
    assert not set(folded) & set("іїйыєэёґьъ'’,.!?")
    assert "  " not in folded
    assert folded == folded.strip()


def test_district_names_are_not_content_words() -> None:
    # Where a resident lives never says what they ask about (see faq.text._PLACE_STEMS).
    assert content_tokens("укриття в Саксаганському районі") == content_tokens("укриття в районі")
    assert content_tokens("на Соцмісті нема води") == content_tokens("нема води")
    assert content_tokens("Центрально-Міський район") == content_tokens("міський район")
    assert content_tokens("Покровском, Металлургическом") == []
    # Words that only begin like a district name's second half stay.
    assert "централизоване" in content_tokens("централізоване опалення")
