"""The ``X-Viber-Content-Signature`` check: HMAC-SHA256 of the raw body keyed with the bot token."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Viber-Content-Signature"


def sign(body: bytes, token: str) -> str:
    """The lowercase hex signature Viber puts in ``X-Viber-Content-Signature`` for ``body``."""
    return hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, token: str, header_value: str | None) -> bool:
    """True when ``header_value`` is the signature of ``body``; compared in constant time.

    Not viberbot's ``Api.verify_signature``: it compares with ``==``, whose running time tells
    an attacker how much of a forged signature is right; ``hmac.compare_digest`` does not.
    """
    if not header_value or not token:
        return False
    expected = sign(body, token).encode("ascii")
    # A header may carry any characters; bytes keep compare_digest from raising on non-ASCII.
    received = header_value.strip().lower().encode("utf-8", errors="replace")
    return hmac.compare_digest(expected, received)
