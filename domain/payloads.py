"""Button payloads: built and parsed here only, versioned, ASCII, within Telegram's 64 bytes.

A payload is ``v1:<action>[:<arg>...]``. Anything that does not parse (another version, an
unknown action, bad characters, too long) is stale or forged and is answered politely.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

VERSION = "v1"
MAX_BYTES = 64  # Telegram's callback_data limit
_ARG = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One button action: how many arguments it carries (its grammar) and what they are."""

    min_args: int
    max_args: int
    meaning: str


# Every action a button may carry, the only place one is declared: a payload with another
# action, or with another number of arguments, is stale or forged. Features claim these names
# in the conversation's registry (a name missing here is refused at wiring time); arguments
# are ASCII words of 1-40 characters from ``[A-Za-z0-9_.-]``.
CATALOGUE: Mapping[str, ActionSpec] = MappingProxyType(
    {
        # The main menu (handlers.menu).
        "menu": ActionSpec(0, 0, "the main menu"),
        "help": ActionSpec(0, 0, "what the bot can do"),
        "about": ActionSpec(0, 0, "about the contact center"),
        "lang": ActionSpec(0, 0, "choose a language"),
        "setlang": ActionSpec(1, 1, "language code"),
        "cancel": ActionSpec(0, 0, "leave the current step"),
        # Consultations (handlers.consult).
        "consult": ActionSpec(0, 0, "the list of topics"),
        "sec": ActionSpec(1, 1, "section id"),
        "faq": ActionSpec(1, 2, "entry id, the id of the suggestion it was offered in"),
        "faqd": ActionSpec(2, 2, "entry id, consultation id (the full answer behind the short)"),
        "helpful": ActionSpec(2, 2, "consultation id, y or n"),
        "shelter": ActionSpec(0, 0, "find the nearest shelter"),
        # Requests (handlers.requests, services.cards).
        "req_new": ActionSpec(0, 1, "category code to start with"),
        "req_my": ActionSpec(0, 0, "the resident's requests"),
        "rq": ActionSpec(1, 2, "form or list command, its value or request id"),
        "st": ActionSpec(2, 2, "request id, the new status (staff card)"),
        "asg": ActionSpec(1, 2, "request id, executor id or back (staff card)"),
        # The operator relay (handlers.relay, services.relay).
        "operator": ActionSpec(0, 0, "talk to an operator"),
        "relay_end": ActionSpec(1, 1, "relay id (the resident ends it)"),
        "relay_close": ActionSpec(1, 1, "relay id (the operator closes it)"),
        "relay_req": ActionSpec(1, 1, "relay id (the operator files a request from it)"),
        # Follow-ups after "done" (handlers.followup, services.followups).
        "fu": ActionSpec(2, 2, "follow-up id, outcome code"),
        "fur": ActionSpec(2, 2, "follow-up id, rating 1-5"),
        "fux": ActionSpec(1, 1, "follow-up id (skip the rating)"),
        # Privacy (handlers.privacy).
        "pv": ActionSpec(1, 1, "yes or no (erase my data)"),
        # Staff tools (bot.telegram.stats).
        "obx": ActionSpec(1, 1, "outbox message id or all (send a dead letter again)"),
    }
)


class PayloadError(ValueError):
    """A payload could not be built within the limits."""


@dataclass(frozen=True, slots=True)
class Payload:
    """A parsed button payload."""

    action: str
    args: tuple[str, ...] = ()

    def arg(self, index: int = 0) -> str | None:
        return self.args[index] if index < len(self.args) else None


def build(action: str, *args: str | int) -> str:
    spec = CATALOGUE.get(action)
    if spec is None:
        raise PayloadError(f"unknown action {action!r}")
    if not spec.min_args <= len(args) <= spec.max_args:
        raise PayloadError(f"{action!r} takes {spec.min_args}-{spec.max_args} arguments: {args!r}")
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
    spec = CATALOGUE.get(action)
    if spec is None or not spec.min_args <= len(args) <= spec.max_args:
        return None
    if not all(_ARG.match(arg) for arg in args):
        return None
    return Payload(action, args)


def looks_like_payload(text: str) -> bool:
    """True for text that is one of our payloads (Viber sends pressed buttons back as text)."""
    return text.startswith(VERSION + ":")
