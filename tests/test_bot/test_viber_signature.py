"""The X-Viber-Content-Signature check: good, wrong and missing signatures."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from bot.viber.signature import sign, verify
from fakes.viber_api import DEFAULT_TOKEN, signed_callback

BODY = b'{"event":"webhook","timestamp":1457764197627,"message_token":241256543215}'


def test_sign_is_hex_hmac_sha256_keyed_with_the_token() -> None:
    expected = hmac.new(DEFAULT_TOKEN.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, DEFAULT_TOKEN) == expected


def test_a_good_signature_verifies() -> None:
    assert verify(BODY, DEFAULT_TOKEN, sign(BODY, DEFAULT_TOKEN))


def test_the_fake_signs_like_viber() -> None:
    raw, headers = signed_callback({"event": "webhook"}, DEFAULT_TOKEN)
    assert verify(raw, DEFAULT_TOKEN, headers["X-Viber-Content-Signature"])


def test_uppercase_hex_and_surrounding_spaces_are_accepted() -> None:
    assert verify(BODY, DEFAULT_TOKEN, f" {sign(BODY, DEFAULT_TOKEN).upper()} ")


def test_a_signature_made_with_another_token_fails() -> None:
    assert not verify(BODY, DEFAULT_TOKEN, sign(BODY, "another-token"))


def test_a_changed_body_fails() -> None:
    assert not verify(BODY + b" ", DEFAULT_TOKEN, sign(BODY, DEFAULT_TOKEN))


def test_a_missing_or_empty_signature_fails() -> None:
    assert not verify(BODY, DEFAULT_TOKEN, None)
    assert not verify(BODY, DEFAULT_TOKEN, "")


def test_an_empty_token_never_verifies() -> None:
    assert not verify(BODY, "", sign(BODY, ""))


@given(header=st.text(max_size=80))
def test_arbitrary_header_values_fail_without_raising(header: str) -> None:
    assert not verify(BODY, DEFAULT_TOKEN, header)
