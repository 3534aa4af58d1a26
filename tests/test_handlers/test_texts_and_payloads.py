"""Message catalogs stay consistent; payloads stay within Telegram's limits and reject forgeries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.payloads import MAX_BYTES, PayloadError, build, parse
from domain.texts import LANGUAGES, Texts, TextsError, placeholders


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    texts = Texts.load()
    keys = set(texts.catalogs["uk"])
    for language in LANGUAGES:
        assert set(texts.catalogs[language]) == keys
        for key in keys:
            assert placeholders(texts.catalogs[language][key]) == placeholders(
                texts.catalogs["uk"][key]
            )


def test_an_inconsistent_catalog_is_refused() -> None:
    with pytest.raises(TextsError, match="missing key"):
        Texts({"uk": {"a": "x", "b": "y"}, "en": {"a": "x"}}).check()
    with pytest.raises(TextsError, match="placeholders"):
        Texts({"uk": {"a": "{n}"}, "en": {"a": "{m}"}}).check()


def test_payload_round_trip() -> None:
    payload = parse(build("setlang", "en"))
    assert payload is not None
    assert (payload.action, payload.args) == ("setlang", ("en",))


def test_payload_refuses_bad_arguments_and_length() -> None:
    with pytest.raises(PayloadError):
        build("menu", "a:b")
    with pytest.raises(PayloadError):
        build("menu", *(["x" * 40] * 3))
    with pytest.raises(PayloadError):
        build("no-such-action")


@given(st.text(max_size=200))
def test_parse_never_crashes_and_never_accepts_junk(raw: str) -> None:
    payload = parse(raw)
    if payload is not None:
        assert len(raw.encode()) <= MAX_BYTES
        assert raw.startswith("v1:")
