"""API keys of the Open311 API: made once, stored as a hash, checked on every call.

A key is ``o311_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits). Only its
SHA-256 is stored: with that much randomness a plain hash is as good as a slow one, and a
lookup by hash needs no comparison of secrets at all. The text is printed once by
``python -m bot api-key create`` and cannot be shown again.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from domain.clock import Clock
from storage.base import StoreSession
from storage.open311 import ApiKey, ApiScope

__all__ = ["KEY_PREFIX", "ApiKeys", "InvalidKeyName", "hash_key"]

KEY_PREFIX = "o311_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEY = re.compile(r"^o311_[A-Za-z0-9_-]{20,100}$")


class InvalidKeyName(ValueError):
    """A key's name is 1-64 letters, digits, '.', '_' or '-' (it is written in the audit log)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """Makes, finds and revokes keys inside the caller's transaction."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def create(self, session: StoreSession, name: str, scope: ApiScope) -> tuple[ApiKey, str]:
        """A new key: its record and its text (shown once); ``InvalidKeyName``, or
        ``storage.open311.KeyNameTaken`` when an active key has this name."""
        if not _NAME.match(name):
            raise InvalidKeyName(name)
        text = KEY_PREFIX + secrets.token_urlsafe(32)
        key = await session.open311.create_key(name, scope, hash_key(text), now=self.clock.now())
        return key, text

    async def check(self, session: StoreSession, text: str) -> ApiKey | None:
        """The active key ``text`` is, or None (unknown, malformed or revoked)."""
        candidate = text.strip()
        if not _KEY.match(candidate):
            return None
        key = await session.open311.key_by_hash(hash_key(candidate))
        return key if key is not None and key.active else None

    async def list(self, session: StoreSession) -> list[ApiKey]:
        return await session.open311.list_keys()

    async def revoke(self, session: StoreSession, name: str) -> bool:
        return await session.open311.revoke_key(name, now=self.clock.now())
