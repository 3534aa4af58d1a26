"""Button payloads: built and parsed here only, versioned, ASCII, within Telegram's 64 bytes.

A payload is ``v1:<action>[:<arg>...]``. Anything that does not parse (another version, an
unknown action, bad characters, too long) is stale or forged and is answered politely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "v1"
MAX_BYTES = 64  # Telegram's callback_data limit
_ARG = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")

# Every action a button may carry. Handlers register for these names; parsing rejects others.
KNOWN_ACTIONS: set[str] = {
    "menu",
    "help",
    "about",
    "lang",
    "setlang",
    "consult",
    "req_new",
    "req_my",
    "operator",
    "shelter",
    "cancel",
}


class PayloadError(ValueError):
    """A payload could not be built within the limits."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A parsed button payload."""

    action: str
    args: tuple[str, ...] = ()

    def arg(self, index: int = 0) -> str | None:
        return self.args[index] if index < len(self.args) else None


def register_actions(*actions: str) -> None:
    """Features declare their actions at wiring time (idempotent)."""
    for action in actions:
        if not _ARG.match(action) or ":" in action:
            raise PayloadError(f"bad action name {action!r}")
        KNOWN_ACTIONS.add(action)


def build(action: str, *args: str | int) -> str:
    if action not in KNOWN_ACTIONS:
        raise PayloadError(f"unknown action {action!r}")
    parts = [VERSION, action]
    for arg in args:
        text = str(arg)
        if not _ARG.match(text):
            raise PayloadError(f"bad payload argument {text!r}")
        parts.append(text)
    payload = ":".join(parts)
    if len(payload.encode("ascii")) > MAX_BYTES:
        raise PayloadError(f"payload longer than {MAX_BYTES} bytes: {payload!r}")
    return payload


def parse(raw: str | None) -> Payload | None:
    """Return the payload, or None when it is stale, forged or malformed."""
    if not raw or len(raw) > MAX_BYTES or not raw.isascii():
        return None
    parts = raw.split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    action, args = parts[1], tuple(parts[2:])
    if action not in KNOWN_ACTIONS or not all(_ARG.match(arg) for arg in args):
        return None
    return Payload(action, args)


def looks_like_payload(text: str) -> bool:
    """True for text that is one of our payloads (Viber sends pressed buttons back as text)."""
    return text.startswith(VERSION + ":")
