"""A fake Telegram Bot API server over real HTTP that records every call, for end-to-end tests.

Point aiogram at it with
``Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(server.base_url)))``, or run
``python -m bot`` with ``TELEGRAM_API_URL=server.base_url``. It answers like the Bot API
(``{"ok": true, "result": ...}`` with Message objects shaped as documented), checks what a real
server checks and a bot most often gets wrong (text/caption/callback-data limits, Telegram's HTML
subset, edits of unknown or unchanged messages, answering a callback query twice), enforces the
flood limits when asked, plays scripted or random faults, and serves ``getUpdates`` long polling or
delivers to a webhook set with ``setWebhook``.

Wire format (what aiogram 3.31 sends): every method is a POST; without files the body is
``application/x-www-form-urlencoded``, with files ``multipart/form-data``. Each non-string value is
JSON-encoded into its field (``chat_id=5``, ``disable_notification=false``,
``reply_markup={"inline_keyboard": ...}``); ``None`` values are omitted. An uploaded file is a
part with a random name and a filename, referenced from its field as ``attach://<name>`` (also
inside ``media`` lists). The fake decodes all of this back into ``RecordedCall.params``: JSON values
become dicts/lists/ints/bools, text fields stay strings and files become ``UploadedFile``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import math
import mimetypes
import random
import re
import socket
import string
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Final, Literal, Self, cast, get_args

import aiohttp
from aiohttp import web

__all__ = [
    "CALLBACK_DATA_LIMIT",
    "CAPTION_LIMIT",
    "SEND_METHODS",
    "TEXT_LIMIT",
    "FakeTelegramServer",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "RateLimits",
    "RecordedCall",
    "TelegramHTMLError",
    "UploadedFile",
    "WebhookDelivery",
    "method_is",
    "parse_telegram_html",
    "sent_to",
]

TEXT_LIMIT: Final = 4096
CAPTION_LIMIT: Final = 1024
CALLBACK_DATA_LIMIT: Final = 64
CALLBACK_ANSWER_LIMIT: Final = 200
MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024

SEND_METHODS: Final = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendMediaGroup",
        "sendVideo",
        "sendVoice",
        "sendAudio",
        "sendAnimation",
        "sendSticker",
        "sendVideoNote",
        "sendDice",
        "copyMessage",
        "forwardMessage",
    }
)
"""Methods that deliver a message: counted by the rate limits and listed by ``sent_messages``."""

# Methods whose loss would only stall polling or setup; random faults skip them.
_PLUMBING_METHODS: Final = frozenset(
    {"getUpdates", "getMe", "setWebhook", "deleteWebhook", "getWebhookInfo", "close", "logOut"}
)

# Form fields that are plain strings in the Bot API; everything else arrives JSON-encoded.
_TEXT_PARAMS: Final = frozenset(
    {
        "text", "caption", "parse_mode", "title", "name", "description", "short_description",
        "url", "secret_token", "callback_query_id", "inline_message_id", "action", "address",
        "first_name", "last_name", "phone_number", "vcard", "emoji", "question", "explanation",
        "file_id", "language_code", "icon_custom_emoji_id", "ip_address", "certificate",
        "business_connection_id", "message_effect_id", "foursquare_id", "foursquare_type",
        "google_place_id", "google_place_type", "photo", "document", "video", "audio", "voice",
        "animation", "sticker", "video_note", "thumbnail", "cover", "custom_title",
        "game_short_name", "switch_pm_text", "switch_pm_parameter", "next_offset",
    }
)  # fmt: skip

# Fields that are objects or arrays; a JSON body may still carry them as JSON strings.
_OBJECT_PARAMS: Final = frozenset(
    {
        "reply_markup", "media", "entities", "caption_entities", "allowed_updates", "commands",
        "scope", "link_preview_options", "reply_parameters", "permissions", "results", "options",
        "menu_button", "reaction", "message_ids",
    }
)  # fmt: skip

_DEFAULT_UPDATE_TYPES_EXCLUDED: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)  # fmt: skip
_BUTTON_ACTIONS: Final = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_CONTENT_KEYS: Final = (
    "text", "entities", "link_preview_options", "photo", "document", "video", "voice", "audio",
    "animation", "sticker", "video_note", "caption", "caption_entities", "location", "venue",
    "contact", "dice", "has_media_spoiler",
)  # fmt: skip
_MEDIA_KEYS: Final = ("photo", "document", "video", "voice", "audio", "animation", "video_note")
_FILE_ID_PREFIX: Final = {
    "photo": "AgAC", "document": "BQAC", "video": "BAAC", "voice": "AwAC", "audio": "CQAC",
    "animation": "CgAC", "sticker": "CAAC", "video_note": "DQAC",
}  # fmt: skip
_SUPERGROUP_ID_BELOW: Final = -1_000_000_000_000
_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_NGINX_502: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)

FaultKind = Literal["429", "500", "502", "html502", "timeout", "disconnect", "403", "400"]
"""What a fault does: an HTTP error shaped like Telegram's, an nginx HTML 502 page (aiogram raises
``ClientDecodeError`` for it), a held response (``timeout``) or a dropped connection."""

_FAULT_KINDS: Final = frozenset(get_args(FaultKind))
_NETWORK_FAULTS: Final = frozenset({"timeout", "disconnect"})


# --------------------------------------------------------------------------------------------
# Values the fake records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request: its filename, bytes and declared content type."""

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.content)} bytes, {self.content_type!r})"


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake answered: method, decoded params, arrival time, status and body.

    ``time`` is the server's monotonic clock when the request arrived. ``fault`` names the fault
    kind that answered it, if any. ``source`` is ``"http"`` for requests to the API and
    ``"webhook-reply"`` for a method returned in the body of a webhook response. Status 499 means
    the client went away before the answer (a cancelled long poll, for example).
    """

    index: int
    method: str
    params: dict[str, Any]
    time: float
    status: int
    response: dict[str, Any]
    fault: str | None = None
    source: str = "http"

    @property
    def ok(self) -> bool:
        """Whether the Bot API call succeeded (HTTP 200 and ``"ok": true``)."""
        return self.status == 200 and self.response.get("ok") is True

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (a Message dict for sends), else ``None``."""
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        """Telegram's error description of a failed call."""
        description = self.response.get("description")
        return description if isinstance(description, str) else None

    @property
    def chat_id(self) -> int | str | None:
        """The ``chat_id`` parameter (the destination for copy/forward)."""
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) and not isinstance(value, bool) else None

    @property
    def text(self) -> str | None:
        """The ``text`` or ``caption`` parameter as sent (before HTML parsing)."""
        for key in ("text", "caption"):
            value = self.params.get(key)
            if isinstance(value, str):
                return value
        return None

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        """The decoded ``reply_markup`` parameter."""
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def button_data(self) -> list[str]:
        """Every ``callback_data`` of the inline keyboard sent with the call, row by row."""
        markup = self.reply_markup or {}
        return [
            button["callback_data"]
            for row in markup.get("inline_keyboard", [])
            for button in row
            if isinstance(button, dict) and isinstance(button.get("callback_data"), str)
        ]

    @property
    def is_sent_message(self) -> bool:
        """A successful call of a method in ``SEND_METHODS``."""
        return self.method in SEND_METHODS and self.ok

    def summary(self, width: int = 160) -> str:
        """One line for failure dumps: index, method, status, fault and shortened params."""
        fault = f" fault={self.fault}" if self.fault else ""
        error = f" {self.description!r}" if not self.ok and self.description else ""
        params = _shorten(json.dumps(self.params, ensure_ascii=False, default=repr), width)
        return f"#{self.index} {self.method} -> {self.status}{fault}{error} {params}"


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook: its status (0 if no answer) and error."""

    update_id: int
    status: int
    error: str | None
    time: float


def method_is(*names: str) -> Callable[[RecordedCall], bool]:
    """A ``wait_for`` predicate: a successful call of one of these methods."""
    wanted = frozenset(names)
    return lambda call: call.method in wanted and call.ok


def sent_to(chat_id: int | str) -> Callable[[RecordedCall], bool]:
    """A ``wait_for`` predicate: a message delivered to this chat."""
    return lambda call: call.is_sent_message and call.chat_id == chat_id


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------------------------
# Rate limits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood limits as sliding windows over accepted sends.

    A send (a method in ``SEND_METHODS``) to chat C arriving at time t is within limits when the
    accepted sends with timestamps in the half-open window ``(t - w, t]`` number fewer than the
    limit, for each of: all chats (``per_second_total`` in ``total_window``), chat C
    (``per_chat_per_second`` in ``chat_window``) and, when C is a group (id < 0), C again
    (``per_group_per_minute`` in ``group_window``). Each window ``w`` is shrunk by ``slack``
    (``w * (1 - slack)``), which tolerates clients that space sends by slightly less than the
    window. A send exactly ``w`` after the oldest counted one is allowed.

    Over a limit, the send is listed in ``FakeTelegramServer.violations``; with ``enforce`` it is
    refused with HTTP 429 and ``retry_after`` = the whole seconds (at least 1) until it would be
    allowed, and it is not counted. Without ``enforce`` it is delivered and counted (observe mode:
    assert ``server.violations == []``). A media group counts as one send; edits, callback
    answers and chat actions are not counted.
    """

    per_second_total: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    enforce: bool = True
    slack: float = 0.0
    total_window: float = 1.0
    chat_window: float = 1.0
    group_window: float = 60.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.slack < 1.0:
            msg = f"slack must be in [0, 1), got {self.slack}"
            raise ValueError(msg)
        limits = (self.per_second_total, self.per_chat_per_second, self.per_group_per_minute)
        windows = (self.total_window, self.chat_window, self.group_window)
        if min(limits) < 1 or min(windows) <= 0:
            msg = f"limits must be >= 1 and windows > 0: {self}"
            raise ValueError(msg)


@dataclass(frozen=True)
class _Verdict:
    reasons: tuple[str, ...]
    retry_after: int
    refused: bool


class _RateLimiter:
    """Sliding-window counters for ``RateLimits``."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._total: deque[float] = deque()
        self._chats: dict[int, deque[float]] = {}
        self._groups: dict[int, deque[float]] = {}

    def admit(self, chat_id: int, now: float) -> _Verdict:
        limits = self.limits
        scale = 1.0 - limits.slack
        checks = [
            (self._total, limits.total_window * scale, limits.per_second_total, "total"),
            (
                self._chats.setdefault(chat_id, deque()),
                limits.chat_window * scale,
                limits.per_chat_per_second,
                "per-chat",
            ),
        ]
        if chat_id < 0:
            group = self._groups.setdefault(chat_id, deque())
            checks.append(
                (group, limits.group_window * scale, limits.per_group_per_minute, "group")
            )
        reasons: list[str] = []
        wait = 0.0
        for stamps, window, limit, name in checks:
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                reasons.append(f"{name} limit {limit} per {window:g}s ({len(stamps)} already)")
                wait = max(wait, stamps[len(stamps) - limit] + window - now)
        refused = bool(reasons) and limits.enforce
        if not refused:
            for stamps, _window, _limit, _name in checks:
                stamps.append(now)
        return _Verdict(tuple(reasons), max(1, math.ceil(wait)), refused)


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """A scripted fault: which calls it matches, how it answers, and how often it may fire.

    ``method`` and ``chat_id`` narrow the match (``None`` matches any). ``times`` is how many
    calls it answers (``None``: all until ``FaultPlan.clear``); ``hits`` counts them. ``apply``
    (only for ``timeout``/``disconnect``) performs the call's side effect before the network
    failure, like a message Telegram delivered although the client never saw the answer.
    A ``timeout`` holds its answer ``delay`` seconds, or until ``release`` is set.
    """

    kind: FaultKind
    method: str | None = None
    chat_id: int | str | None = None
    retry_after: int = 1
    delay: float = 30.0
    apply: bool = False
    description: str | None = None
    times: int | None = 1
    hits: int = 0
    release: asyncio.Event | None = field(default=None, repr=False, compare=False)

    @property
    def exhausted(self) -> bool:
        """Whether the fault has fired ``times`` times."""
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        """Whether this fault applies to a call."""
        if self.exhausted:
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)

    def error(self) -> tuple[int, dict[str, Any]]:
        """Status and Telegram-shaped body of an HTTP-error fault."""
        status, default = {
            "429": (429, f"Too Many Requests: retry after {self.retry_after}"),
            "500": (500, "Internal Server Error"),
            "502": (502, "Bad Gateway"),
            "html502": (502, "Bad Gateway"),
            "403": (403, "Forbidden: bot was blocked by the user"),
            "400": (400, "Bad Request: chat not found"),
            "timeout": (502, "Bad Gateway"),
            "disconnect": (502, "Bad Gateway"),
        }[self.kind]
        body: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": self.description or default,
        }
        if self.kind == "429":
            body["parameters"] = {"retry_after": self.retry_after}
        return status, body


@dataclass
class _RandomFaults:
    rate: float
    kinds: tuple[FaultKind, ...]
    rng: random.Random
    methods: frozenset[str] | None
    retry_after: int
    delay: float


class FaultPlan:
    """The faults a server plays: a queue of scripted ones, then an optional random mode.

    For each call the first matching scripted fault that is not exhausted fires; if none does
    and random mode is on, the call fails with probability ``rate``.
    """

    def __init__(self) -> None:
        self._scripted: list[Fault] = []
        self._random: _RandomFaults | None = None
        self.fired: list[Fault] = []

    def add(
        self,
        *,
        kind: FaultKind,
        method: str | None = None,
        chat_id: int | str | None = None,
        retry_after: int = 1,
        times: int | None = 1,
        delay: float = 30.0,
        apply: bool | None = None,
        description: str | None = None,
        release: asyncio.Event | None = None,
    ) -> Fault:
        """Queue a fault for the next ``times`` matching calls and return it.

        ``apply`` defaults to True for ``timeout`` (the message is delivered, then the answer is
        held ``delay`` seconds) and False for ``disconnect``; HTTP-error kinds never apply.
        """
        if kind not in _FAULT_KINDS:
            msg = f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}"
            raise ValueError(msg)
        if apply and kind not in _NETWORK_FAULTS:
            msg = f"a {kind!r} fault answers with an error, so its side effect cannot apply"
            raise ValueError(msg)
        if times is not None and times < 1:
            msg = f"times must be >= 1 or None, got {times}"
            raise ValueError(msg)
        fault = Fault(
            kind=kind,
            method=method,
            chat_id=chat_id,
            retry_after=retry_after,
            delay=delay,
            apply=kind == "timeout" if apply is None else apply,
            description=description,
            times=times,
            release=release,
        )
        self._scripted.append(fault)
        return fault

    def random(
        self,
        rate: float,
        kinds: Iterable[FaultKind] = ("429", "500", "timeout"),
        seed: int = 1,
        *,
        methods: Iterable[str] | None = None,
        retry_after: int = 1,
        delay: float = 30.0,
    ) -> None:
        """Fail each matching call with probability ``rate`` (0 turns random mode off).

        ``methods=None`` means every method except polling and setup (getUpdates, getMe and
        the webhook methods). A random ``timeout`` applies the side effect.
        """
        chosen = tuple(kinds)
        unknown = set(chosen) - _FAULT_KINDS
        if unknown or not chosen:
            msg = f"bad fault kinds {chosen!r}"
            raise ValueError(msg)
        if rate <= 0:
            self._random = None
            return
        self._random = _RandomFaults(
            rate=rate,
            kinds=chosen,
            rng=random.Random(seed),
            methods=None if methods is None else frozenset(methods),
            retry_after=retry_after,
            delay=delay,
        )

    def clear(self) -> None:
        """Drop every scripted fault and turn random mode off."""
        self._scripted.clear()
        self._random = None

    @property
    def pending(self) -> list[Fault]:
        """Scripted faults that can still fire."""
        return [fault for fault in self._scripted if not fault.exhausted]

    def pick(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        """The fault that answers this call, counting its hit; ``None`` for a normal answer."""
        for fault in self._scripted:
            if fault.matches(method, params):
                fault.hits += 1
                self.fired.append(fault)
                return fault
        chaos = self._random
        if chaos is None:
            return None
        eligible = (
            method not in _PLUMBING_METHODS if chaos.methods is None else method in chaos.methods
        )
        if not eligible or chaos.rng.random() >= chaos.rate:
            return None
        kind = chaos.rng.choice(chaos.kinds)
        fault = Fault(
            kind=kind,
            method=method,
            retry_after=chaos.retry_after,
            delay=chaos.delay,
            apply=kind == "timeout",
            hits=1,
        )
        self.fired.append(fault)
        return fault


# --------------------------------------------------------------------------------------------
# Telegram's HTML subset
# --------------------------------------------------------------------------------------------


class TelegramHTMLError(ValueError):
    """Text is not valid Telegram HTML; the message is the detail after "can't parse entities"."""


_HTML_TAGS: Final = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_HTML_SPACES: Final = frozenset(" \t\r\n\v\f")
_HTML_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_TYPES: Final = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote",
}  # fmt: skip


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&lt;``-style or numeric entity at ``pos``; ``None`` keeps ``&`` literal."""
    end = pos + 1
    size = len(text)
    if end < size and text[end] == "#":
        end += 1
        base, digits = 10, string.digits
        if end < size and text[end] in "xX":
            base, digits = 16, string.hexdigits
            end += 1
        start = end
        while end < size and text[end] in digits and end - start < 8:
            end += 1
        if end == start:
            return None
        code = int(text[start:end], base)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        start = end
        while end < size and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _HTML_NAMED.get(text[start:end])
        if named is None:
            return None
        char = named
    if end < size and text[end] == ";":
        end += 1
    return char, end


def _utf16_len(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int


def parse_telegram_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Bot API HTML into plain text and MessageEntity dicts, like Telegram does.

    A port of tdlib's ``parse_html``: ``<`` always starts a tag, so an unescaped ``<`` in user
    text fails (``1 < 2`` gives 'Unsupported start tag "" at byte offset 2'); only the documented
    tags are allowed; tags must nest; ``&lt; &gt; &amp; &quot;`` and numeric entities are decoded
    and any other ``&`` stays literal. Entity offsets and lengths are in UTF-16 code units.
    Raises ``TelegramHTMLError`` with Telegram's wording.
    """
    size = len(text)

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8", "surrogatepass"))

    def skip_spaces(pos: int) -> int:
        while pos < size and text[pos] in _HTML_SPACES:
            pos += 1
        return pos

    plain: list[str] = []
    entities: list[dict[str, Any]] = []
    languages: dict[tuple[int, int], str] = {}
    stack: list[_OpenTag] = []
    utf16 = 0
    i = 0
    while i < size:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                plain.append(decoded[0])
                utf16 += _utf16_len(decoded[0])
                i = decoded[1]
                continue
        if char != "<":
            plain.append(char)
            utf16 += _utf16_len(char)
            i += 1
            continue
        begin = i
        i += 1
        if i < size and text[i] == "/":
            if not stack:
                msg = f"Unexpected end tag at byte offset {byte_offset(begin)}"
                raise TelegramHTMLError(msg)
            i += 1
            name_start = i
            while i < size and text[i] not in _HTML_SPACES and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            i = skip_spaces(i)
            if i >= size or text[i] != ">":
                msg = f"Unclosed end tag at byte offset {byte_offset(begin)}"
                raise TelegramHTMLError(msg)
            opened = stack.pop()
            if end_name and end_name != opened.name:
                msg = (
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{opened.name}>", found "</{end_name}>"'
                )
                raise TelegramHTMLError(msg)
            length = utf16 - opened.offset
            if length > 0:
                entity = _html_entity(opened, length)
                if entity is not None:
                    entities.append(entity)
                    if opened.name == "code" and opened.argument:
                        languages[(opened.offset, length)] = opened.argument
            i += 1
            continue
        while i < size and text[i] not in _HTML_SPACES and text[i] != ">":
            i += 1
        if i >= size:
            msg = f"Unclosed start tag at byte offset {byte_offset(begin)}"
            raise TelegramHTMLError(msg)
        tag = text[begin + 1 : i].lower()
        if tag not in _HTML_TAGS:
            msg = f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            raise TelegramHTMLError(msg)
        argument = ""
        while True:
            i = skip_spaces(i)
            if i >= size:
                msg = f"Unclosed start tag at byte offset {byte_offset(begin)}"
                raise TelegramHTMLError(msg)
            if text[i] == ">":
                break
            name_start = i
            while i < size and text[i] not in _HTML_SPACES and text[i] not in "=>":
                i += 1
            attribute = text[name_start:i].lower()
            if not attribute:
                msg = f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                raise TelegramHTMLError(msg)
            i = skip_spaces(i)
            if tag == "blockquote" and attribute == "expandable" and text[i : i + 1] != "=":
                argument = "1"  # the one attribute Telegram accepts without a value
                continue
            if i >= size or text[i] != "=":
                msg = (
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
                raise TelegramHTMLError(msg)
            i = skip_spaces(i + 1)
            if i >= size:
                msg = f"Unclosed start tag at byte offset {byte_offset(begin)}"
                raise TelegramHTMLError(msg)
            value_chars: list[str] = []
            if text[i] not in "'\"":
                token_start = i
                while i < size and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                    i += 1
                value = text[token_start:i].lower()
                if i < size and text[i] not in _HTML_SPACES and text[i] != ">":
                    msg = f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                    raise TelegramHTMLError(msg)
            else:
                quote = text[i]
                i += 1
                while i < size and text[i] != quote:
                    if text[i] == "&":
                        decoded = _decode_html_entity(text, i)
                        if decoded is not None:
                            value_chars.append(decoded[0])
                            i = decoded[1]
                            continue
                    value_chars.append(text[i])
                    i += 1
                if i < size:
                    i += 1
                value = "".join(value_chars)
            if i >= size:
                msg = f"Unclosed start tag at byte offset {byte_offset(begin)}"
                raise TelegramHTMLError(msg)
            if tag == "a" and attribute == "href":
                argument = value
            elif tag == "code" and attribute == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                argument = value.removeprefix("tg-")
            elif tag == "tg-emoji" and attribute == "emoji-id":
                argument = value
            elif tag == "blockquote" and attribute == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            msg = f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            raise TelegramHTMLError(msg)
        stack.append(_OpenTag(tag, argument, utf16))
        i += 1
    if stack:
        msg = f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"'
        raise TelegramHTMLError(msg)
    return "".join(plain), _merge_pre_languages(entities, languages)


def _html_entity(opened: _OpenTag, length: int) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"offset": opened.offset, "length": length}
    if opened.name == "a":
        if not opened.argument:
            return None
        return {"type": "text_link", **entity, "url": opened.argument}
    if opened.name == "tg-emoji":
        if not opened.argument:
            return None
        return {"type": "custom_emoji", **entity, "custom_emoji_id": opened.argument}
    if opened.name == "blockquote" and opened.argument:
        return {"type": "expandable_blockquote", **entity}
    return {"type": _ENTITY_TYPES[opened.name], **entity}


def _merge_pre_languages(
    entities: list[dict[str, Any]], languages: dict[tuple[int, int], str]
) -> list[dict[str, Any]]:
    """``<pre><code class="language-x">`` becomes one ``pre`` entity with ``language``."""
    merged: list[dict[str, Any]] = []
    pre_spans = {(e["offset"], e["length"]) for e in entities if e["type"] == "pre"}
    for entity in entities:
        span = (entity["offset"], entity["length"])
        if entity["type"] == "code" and span in pre_spans and span in languages:
            continue
        if entity["type"] == "pre" and span in languages:
            merged.append({**entity, "language": languages[span]})
        else:
            merged.append(entity)
    return sorted(merged, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------------------------
# Request decoding
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """A Bot API error answer, raised inside method handlers."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: dict[str, Any]
    html: str | None = None

    @classmethod
    def from_error(cls, error: _ApiError) -> _Outcome:
        return cls(error.status, error.body())

    def to_response(self) -> web.Response:
        if self.html is not None:
            return web.Response(status=self.status, text=self.html, content_type="text/html")
        return web.json_response(self.body, status=self.status)


def _decode_form_value(key: str, raw: str) -> Any:
    if key in _TEXT_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _decode_json_value(key: str, value: Any) -> Any:
    if isinstance(value, str) and key in _OBJECT_PARAMS:
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def _resolve_attachments(params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
    """Replace ``attach://name`` references with the uploaded parts they name."""
    used: set[str] = set()

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name in files:
                used.add(name)
                return files[name]
            return value
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        return value

    resolved = {key: resolve(value) for key, value in params.items()}
    for name, uploaded in files.items():
        if name not in used:
            resolved.setdefault(name, uploaded)
    return resolved


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Decode a multipart/form-data body held in memory (a webhook reply) into params."""
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        part = cast(EmailMessage, part)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = UploadedFile(filename, content, part.get_content_type())
        else:
            params[name] = _decode_form_value(name, content.decode("utf-8"))
    return _resolve_attachments(params, files)


class _Signal:
    """Wakes every coroutine waiting for "something changed"."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def waiter(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


@dataclass
class _Queued:
    update: dict[str, Any]
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def kind(self) -> str:
        return next((key for key in self.update if key != "update_id"), "")


@dataclass(frozen=True)
class _Target:
    chat_id: int
    thread_id: int | None
    reply_to: dict[str, Any] | None
    markup: dict[str, Any] | None


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeTelegramServer:
    """A Bot API server on 127.0.0.1 that keeps chats, messages and updates in memory.

    State a test may read or set directly: ``calls``, ``chats`` (Chat dicts by id; ``add_chat``),
    ``users`` (User dicts seen in pushed updates), ``chat_members`` (``(chat_id, user_id)`` →
    status string or full ChatMember dict; default "left", the bot itself "administrator"),
    ``blocked_chats`` (sends there get 403), ``files`` (file_id → bytes), ``topics``,
    ``commands``, ``webhook``, ``violations``, ``faults``.
    """

    def __init__(
        self,
        *,
        token: str = "123456:TEST",
        bot_id: int = 123456,
        bot_username: str = "test_contact_bot",
        limits: RateLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        require_known_chats: bool = False,
        strict_webhooks: bool = False,
        webhook_retry_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure the fake; nothing listens until ``start``.

        ``require_known_chats`` answers "chat not found" for chats never seen in a pushed update
        or ``add_chat``. ``strict_webhooks`` requires an HTTPS webhook on ports 80/88/443/8443,
        as Telegram does. ``clock`` gives Message dates (Unix seconds); ``monotonic`` gives call
        times and drives the rate limits, so a test can pass a manual clock.
        """
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.host = host
        self.port = port
        self.require_known_chats = require_known_chats
        self.strict_webhooks = strict_webhooks
        self.webhook_retry_delay = webhook_retry_delay
        self._clock = clock
        self._monotonic = monotonic

        self.calls: list[RecordedCall] = []
        self.faults = FaultPlan()
        self.violations: list[str] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.chat_members: dict[tuple[int, int], str | dict[str, Any]] = {}
        self.blocked_chats: set[int] = set()
        self.files: dict[str, bytes] = {}
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.on_call: Callable[[RecordedCall], None] | None = None

        self._limiter = _RateLimiter(limits) if limits is not None else None
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self._known_chats: set[int] = set()
        self._open_callbacks: set[str] = set()
        self._file_paths: dict[str, str] = {}
        self._file_ids = itertools.count(1)
        self._media_groups = itertools.count(13_000_000_000_000_001)
        self._callback_ids = itertools.count(4_000_000_000_000_000_001)
        self._queue: list[_Queued] = []
        self._last_update_id = 0
        self._allowed_updates: list[str] | None = None
        self._poller: asyncio.Future[str] | None = None
        self._updates_signal = _Signal()
        self._calls_signal = _Signal()
        self._closing = asyncio.Event()
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wakeup = _Signal()
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = self._method_table()
        self._canonical = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host`` (a free port unless ``port`` was given)."""
        if self._runner is not None:
            msg = "the fake Telegram server is already started"
            raise RuntimeError(msg)
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # Cancel a handler when its client goes away, so an abandoned long poll ends at once.
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=5.0, access_log=None
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._kick_webhook()

    async def stop(self) -> None:
        """End long polls and held answers, stop webhook delivery and close the listener."""
        self._closing.set()
        self._updates_signal.notify()
        self._webhook_wakeup.notify()
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("")
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` for ``TELEGRAM_API_URL`` / ``TelegramAPIServer.from_base``."""
        if self._runner is None:
            msg = "start the fake Telegram server before asking for its URL"
            raise RuntimeError(msg)
        return f"http://{self.host}:{self.port}"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a User dict (the ``from`` of every message it sends)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Contact Center (test)",
            "username": self.bot_username,
        }

    # -- scripting ------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        type: str | None = None,
        title: str | None = None,
        is_forum: bool = False,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Register a chat (e.g. a forum supergroup for staff topics) and return its Chat dict."""
        chat = self._default_chat(chat_id)
        if type is not None:
            chat["type"] = type
        if title is not None:
            chat["title"] = title
        if username is not None:
            chat["username"] = username
        if first_name is not None:
            chat["first_name"] = first_name
        if is_forum:
            chat["is_forum"] = True
        if chat["type"] != "private":
            chat.pop("first_name", None)
            chat.setdefault("title", f"Chat {chat_id}")
        self.chats[chat_id] = chat
        self._known_chats.add(chat_id)
        return chat

    def block(self, chat_id: int) -> None:
        """Make sends to this chat fail with 403, as after a user blocks the bot."""
        self.blocked_chats.add(chat_id)

    def push_update(self, update: Mapping[str, Any], *, validate: bool = True) -> int:
        """Queue an update for getUpdates (or the webhook) and return its ``update_id``.

        A missing ``update_id`` is assigned. The chats, users, messages, files and callback
        query ids in the update become known to the fake, so the bot can reply to, edit, copy
        or answer them. With ``validate`` the update must parse as ``aiogram.types.Update``.
        Unlike Telegram, an update pushed again with an id below the confirmed offset is still
        delivered once, so a test can script a redelivery.
        """
        data = copy.deepcopy(dict(update))
        if "update_id" not in data:
            data = {"update_id": self._last_update_id + 1, **data}
        update_id = int(data["update_id"])
        if validate:
            from aiogram.types import Update  # noqa: PLC0415 - only needed when validating

            Update.model_validate(data)
        self._last_update_id = max(self._last_update_id, update_id)
        self._learn(data)
        self._queue.append(_Queued(data))
        self._updates_signal.notify()
        self._kick_webhook()
        return update_id

    def observe_update(self, update: Mapping[str, Any]) -> None:
        """Learn an update the test posts to the bot's webhook itself (not queued here).

        Its chats, users, messages and callback query id become known as with ``push_update``,
        so the bot can answer the callback query; nothing is delivered by the fake.
        """
        self._learn(copy.deepcopy(dict(update)))

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        *,
        data: str | None = None,
        text: str | None = None,
        user_id: int | None = None,
    ) -> int:
        """Push the callback query of pressing an inline button (by data or label) of a message.

        Fails with ``AssertionError`` when the message or the button does not exist, which is
        what a resident would see. ``user_id`` defaults to the private chat's user.
        """
        message = self._messages.get((chat_id, message_id))
        if message is None:
            msg = f"no message {message_id} in chat {chat_id}"
            raise AssertionError(msg)
        markup = message.get("reply_markup") or {}
        buttons = [button for row in markup.get("inline_keyboard", []) for button in row]
        found = [
            button
            for button in buttons
            if (data is not None and button.get("callback_data") == data)
            or (text is not None and button.get("text") == text)
        ]
        if not found or "callback_data" not in found[0]:
            labels = [(button.get("text"), button.get("callback_data")) for button in buttons]
            msg = f"no callback button {data or text!r} in message {message_id}: {labels}"
            raise AssertionError(msg)
        if user_id is None:
            if chat_id < 0:
                msg = "press_button in a group needs user_id"
                raise AssertionError(msg)
            user_id = chat_id
        user = self.users.get(user_id) or _default_user(user_id)
        query = {
            "id": str(next(self._callback_ids)),
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": str(abs(chat_id) * 7919 % 10**18),
            "data": found[0]["callback_data"],
        }
        return self.push_update({"callback_query": query})

    # -- reading what happened -------------------------------------------------------------

    def sent_messages(self, chat_id: int | str | None = None) -> list[RecordedCall]:
        """Successful calls of ``SEND_METHODS`` (to one chat if given), in arrival order."""
        return [
            call
            for call in self.calls
            if call.is_sent_message and (chat_id is None or call.chat_id == chat_id)
        ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a stored message (after edits), or None if absent/deleted."""
        found = self._messages.get((chat_id, message_id))
        return copy.deepcopy(found) if found is not None else None

    def chat_history(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message still stored for a chat (both sides), oldest first."""
        return [
            copy.deepcopy(message)
            for (chat, _mid), message in sorted(self._messages.items())
            if chat == chat_id
        ]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset (or delivered to the webhook)."""
        return [copy.deepcopy(item.update) for item in self._queue]

    async def wait_for(
        self,
        predicate: Callable[[RecordedCall], bool],
        *,
        count: int = 1,
        timeout: float = 10,  # noqa: ASYNC109 - bounds a wait on recorded calls, not I/O
        start: int = 0,
    ) -> list[RecordedCall]:
        """Wait until ``count`` calls from index ``start`` on satisfy ``predicate``; return them.

        Raises ``AssertionError`` with the recent calls on timeout. Pass
        ``start=len(server.calls)`` to wait only for calls made after that point.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matched = [call for call in self.calls[start:] if predicate(call)]
            if len(matched) >= count:
                return matched[:count]
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(call.summary() for call in self.calls[-25:]) or "(none)"
                msg = (
                    f"expected {count} matching call(s) within {timeout}s, saw {len(matched)}; "
                    f"recent calls:\n  {recent}"
                )
                raise AssertionError(msg)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._calls_signal.waiter(), remaining)

    async def wait_for_sent(
        self,
        chat_id: int | str | None = None,
        *,
        count: int = 1,
        timeout: float = 10,  # noqa: ASYNC109 - bounds a wait on recorded calls, not I/O
        start: int = 0,
    ) -> list[RecordedCall]:
        """``wait_for`` messages delivered (to one chat if given)."""

        def predicate(call: RecordedCall) -> bool:
            return call.is_sent_message and (chat_id is None or call.chat_id == chat_id)

        return await self.wait_for(predicate, count=count, timeout=timeout, start=start)

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        arrived = self._monotonic()
        raw_method = request.match_info["method"]
        method = self._canonical.get(raw_method.lower(), raw_method)
        params: dict[str, Any] = {}
        try:
            params = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            too_large = _Outcome.from_error(_ApiError(413, "Request Entity Too Large"))
            return self._finish(method, params, arrived, too_large)
        except _ApiError as error:
            return self._finish(method, params, arrived, _Outcome.from_error(error))
        except asyncio.CancelledError:
            self._record(method, params, arrived, _client_gone())
            raise
        if request.match_info["token"] != self.token:
            unauthorized = _Outcome.from_error(_ApiError(401, "Unauthorized"))
            return self._finish(method, params, arrived, unauthorized)
        if raw_method.lower() not in self._canonical:
            not_found = _Outcome.from_error(_ApiError(404, "Not Found: method not found"))
            return self._finish(method, params, arrived, not_found)
        fault = self.faults.pick(method, params)
        if fault is not None:
            return await self._play_fault(request, method, params, arrived, fault)
        try:
            outcome = await self._execute(method, params)
        except asyncio.CancelledError:
            self._record(method, params, arrived, _client_gone())
            raise
        return self._finish(method, params, arrived, outcome)

    async def _play_fault(
        self,
        request: web.Request,
        method: str,
        params: dict[str, Any],
        arrived: float,
        fault: Fault,
    ) -> web.StreamResponse:
        if fault.kind not in _NETWORK_FAULTS:
            status, body = fault.error()
            html = _NGINX_502 if fault.kind == "html502" else None
            return self._finish(method, params, arrived, _Outcome(status, body, html), fault.kind)
        if fault.apply:
            outcome = await self._execute(method, params)
        else:
            outcome = _Outcome(*fault.error())
        self._record(method, params, arrived, outcome, fault=fault.kind)
        if fault.kind == "timeout":
            if fault.release is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fault.release.wait(), fault.delay)
            else:
                await self._sleep(fault.delay)
            return outcome.to_response()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)

    def _finish(
        self,
        method: str,
        params: dict[str, Any],
        arrived: float,
        outcome: _Outcome,
        fault: str | None = None,
    ) -> web.Response:
        self._record(method, params, arrived, outcome, fault=fault)
        return outcome.to_response()

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        arrived: float,
        outcome: _Outcome,
        *,
        fault: str | None = None,
        source: str = "http",
    ) -> RecordedCall:
        body = outcome.body if outcome.html is None else {**outcome.body, "html": outcome.html}
        call = RecordedCall(
            index=len(self.calls),
            method=method,
            params=params,
            time=arrived,
            status=outcome.status,
            response=body,
            fault=fault,
            source=source,
        )
        self.calls.append(call)
        self._calls_signal.notify()
        if self.on_call is not None:
            self.on_call(call)
        return call

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            key: _decode_form_value(key, value) for key, value in request.query.items()
        }
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as error:
                raise _bad("can't parse JSON object") from error
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            params.update({key: _decode_json_value(key, value) for key, value in body.items()})
            return params
        form = await request.post()
        files: dict[str, UploadedFile] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
            elif isinstance(value, str):
                params[key] = _decode_form_value(key, value)
            else:
                params[key] = _decode_form_value(key, bytes(value).decode("utf-8", "replace"))
        return _resolve_attachments(params, files)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        file_id = next((fid for fid, fpath in self._file_paths.items() if fpath == path), None)
        if file_id is None or file_id not in self.files:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    async def _execute(self, method: str, params: dict[str, Any]) -> _Outcome:
        try:
            if method == "getUpdates":
                result: Any = await self._get_updates(params)
            else:
                result = self._handlers[method](params)
        except _ApiError as error:
            return _Outcome.from_error(error)
        return _Outcome(200, {"ok": True, "result": result})

    async def _sleep(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    # -- updates: long polling -------------------------------------------------------------

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"), "offset", default=0)
        limit = min(max(_as_int(params.get("limit"), "limit", default=100), 1), 100)
        timeout = max(_as_int(params.get("timeout"), "timeout", default=0), 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running"
            )
        poller: asyncio.Future[str] = loop.create_future()
        self._poller = poller
        deadline = loop.time() + timeout
        try:
            while True:
                batch = self._deliverable(limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self._closing.is_set():
                    for item in batch:
                        item.delivered = True
                    return [copy.deepcopy(item.update) for item in batch]
                pushed: asyncio.Future[Any] = self._updates_signal.waiter()
                await asyncio.wait(
                    {pushed, poller}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if poller.done() and poller.result():
                    raise _ApiError(409, poller.result())
        finally:
            if self._poller is poller:
                self._poller = None

    def _confirm(self, offset: int) -> None:
        """Forget updates confirmed by ``offset`` the way Telegram does (negative: from the end)."""
        if offset < 0:
            self._queue = self._queue[offset:]
            return
        if offset > 0:
            self._queue = [
                item for item in self._queue if item.update_id >= offset or not item.delivered
            ]

    def _deliverable(self, limit: int) -> list[_Queued]:
        allowed = self._allowed_updates
        kept: list[_Queued] = []
        for item in self._queue:
            if allowed is None:
                wanted = item.kind not in _DEFAULT_UPDATE_TYPES_EXCLUDED
            else:
                wanted = item.kind in allowed
            if wanted:
                kept.append(item)
        self._queue = kept
        return kept[:limit]

    # -- updates: webhook ----------------------------------------------------------------

    def _kick_webhook(self) -> None:
        if self.webhook is None or self._runner is None or self._closing.is_set():
            return
        self._webhook_wakeup.notify()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhook())

    async def _deliver_webhook(self) -> None:
        while self.webhook is not None and not self._closing.is_set():
            batch = self._deliverable(1)
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._webhook_wakeup.waiter(), 1.0)
                continue
            item = batch[0]
            webhook = self.webhook
            if self._client is None:
                self._client = aiohttp.ClientSession()
            headers = {}
            if webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
            status, error, reply, reply_type = 0, None, b"", ""
            try:
                async with self._client.post(
                    str(webhook["url"]),
                    json=item.update,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as response:
                    status = response.status
                    reply = await response.read()
                    reply_type = response.headers.get("Content-Type", "")
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {type(exc).__name__}: {exc}"
            self.webhook_deliveries.append(
                WebhookDelivery(item.update_id, status, error, self._monotonic())
            )
            if error is not None:
                self._webhook_error = (int(self._clock()), error)
                await self._sleep(self.webhook_retry_delay)
                continue
            self._queue = [queued for queued in self._queue if queued is not item]
            if reply.strip():
                await self._run_webhook_reply(reply, reply_type)

    async def _run_webhook_reply(self, body: bytes, content_type: str) -> None:
        """Execute a method returned in a webhook response body, as Telegram does."""
        arrived = self._monotonic()
        try:
            if content_type.startswith("multipart/"):
                params = _parse_multipart(body, content_type)
            else:
                decoded = json.loads(body)
                if not isinstance(decoded, dict):
                    return
                params = {key: _decode_json_value(key, value) for key, value in decoded.items()}
        except (ValueError, UnicodeDecodeError):
            return
        raw_method = params.pop("method", None)
        if not isinstance(raw_method, str):
            return
        method = self._canonical.get(raw_method.lower())
        if method is None or method == "getUpdates":
            outcome = _Outcome.from_error(_ApiError(404, "Not Found: method not found"))
            self._record(raw_method, params, arrived, outcome, source="webhook-reply")
            return
        outcome = await self._execute(method, params)
        self._record(method, params, arrived, outcome, source="webhook-reply")

    # -- state helpers ---------------------------------------------------------------------

    def _default_chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self.users.get(chat_id) or _default_user(chat_id)
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if user.get("username"):
                chat["username"] = user["username"]
            return chat
        if chat_id <= _SUPERGROUP_ID_BELOW:
            return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _chat_object(self, chat_id: int) -> dict[str, Any]:
        return copy.deepcopy(self.chats.get(chat_id) or self._default_chat(chat_id))

    def _is_forum(self, chat_id: int) -> bool:
        return bool(self.chats.get(chat_id, {}).get("is_forum"))

    def _learn(self, update: dict[str, Any]) -> None:
        """Remember chats, users, messages, files and callback ids found in a pushed update."""
        for key, value in update.items():
            if key == "update_id" or not isinstance(value, dict):
                continue
            if key == "callback_query":
                self._open_callbacks.add(str(value.get("id")))
                self._learn_user(value.get("from"))
                message = value.get("message")
                if isinstance(message, dict) and message.get("date"):
                    # An inaccessible message has date 0; a stored one is not overwritten.
                    stored = (message["chat"]["id"], message["message_id"])
                    self._learn_message(message, store=stored not in self._messages)
            elif "message_id" in value and "chat" in value:
                self._learn_message(value, store=True)
            else:
                self._learn_user(value.get("from"))
                chat = value.get("chat")
                if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                    self._learn_chat(chat)

    def _learn_user(self, user: Any) -> None:
        if isinstance(user, dict) and isinstance(user.get("id"), int) and not user.get("is_bot"):
            self.users[user["id"]] = copy.deepcopy(user)

    def _learn_chat(self, chat: dict[str, Any]) -> None:
        chat_id = int(chat["id"])
        known = self.chats.get(chat_id, {})
        self.chats[chat_id] = {**known, **copy.deepcopy(chat)}
        self._known_chats.add(chat_id)

    def _learn_message(self, message: dict[str, Any], *, store: bool) -> None:
        self._learn_user(message.get("from"))
        chat = message["chat"]
        self._learn_chat(chat)
        chat_id, message_id = int(chat["id"]), int(message["message_id"])
        if store:
            self._messages[(chat_id, message_id)] = copy.deepcopy(message)
        self._next_message_id[chat_id] = max(self._next_message_id.get(chat_id, 1), message_id + 1)
        thread = message.get("message_thread_id")
        if isinstance(thread, int) and (
            message.get("is_topic_message") or "forum_topic_created" in message
        ):
            self.topics.setdefault((chat_id, thread), {"name": "", "closed": False})
        for media in (*_MEDIA_KEYS, "sticker"):
            found = message.get(media)
            for item in found if isinstance(found, list) else [found]:
                if isinstance(item, dict) and isinstance(item.get("file_id"), str):
                    self.files.setdefault(item["file_id"], f"fake:{item['file_id']}".encode())
        reply = message.get("reply_to_message")
        if isinstance(reply, dict) and "message_id" in reply and "chat" in reply:
            key = (int(reply["chat"]["id"]), int(reply["message_id"]))
            if key not in self._messages:
                self._learn_message(reply, store=True)

    def _now(self) -> int:
        return int(self._clock())

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    # -- validation helpers -------------------------------------------------------------------

    def _resolve_chat(self, params: Mapping[str, Any], key: str = "chat_id") -> int:
        value = params.get(key)
        if value is None or value == "":
            raise _bad(f"{key} is empty")
        if isinstance(value, str) and value.startswith("@"):
            username = value.removeprefix("@").lower()
            for chat_id, chat in self.chats.items():
                if str(chat.get("username", "")).lower() == username:
                    return chat_id
            raise _bad("chat not found")
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("chat not found")
        if self.require_known_chats and value not in self._known_chats:
            raise _bad("chat not found")
        return value

    def _check_blocked(self, chat_id: int) -> None:
        if chat_id not in self.blocked_chats:
            return
        kind = self._chat_object(chat_id)["type"]
        if kind == "private":
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if kind == "channel":
            raise _ApiError(403, "Forbidden: bot is not a member of the channel chat")
        raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")

    def _target(self, params: Mapping[str, Any]) -> _Target:
        chat_id = self._resolve_chat(params)
        self._check_blocked(chat_id)
        thread = params.get("message_thread_id")
        thread_id = None
        if thread is not None:
            thread_id = _as_int(thread, "message_thread_id")
            if self._is_forum(chat_id):
                topic = self.topics.get((chat_id, thread_id))
                if topic is None:
                    raise _bad("message thread not found")
                if topic.get("closed"):
                    raise _bad("TOPIC_CLOSED")
        reply_to = self._reply_target(chat_id, params)
        markup = _check_markup(params.get("reply_markup"))
        return _Target(chat_id, thread_id, reply_to, markup)

    def _reply_target(self, chat_id: int, params: Mapping[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            reply_chat = reply.get("chat_id", chat_id)
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get("reply_to_message_id")
            reply_chat = chat_id
        if message_id is None:
            return None
        if not isinstance(reply_chat, int):
            reply_chat = chat_id
        found = self._messages.get((reply_chat, _as_int(message_id, "message_id")))
        if found is None:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        shallow = copy.deepcopy(found)
        shallow.pop("reply_to_message", None)
        return shallow

    def _throttle(self, method: str, chat_id: int) -> None:
        if self._limiter is None:
            return
        now = self._monotonic()
        verdict = self._limiter.admit(chat_id, now)
        if not verdict.reasons:
            return
        self.violations.append(
            f"{method} to chat {chat_id} at t={now:.3f}: {'; '.join(verdict.reasons)}"
            f" (retry_after={verdict.retry_after}{', refused' if verdict.refused else ''})"
        )
        if verdict.refused:
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {verdict.retry_after}",
                retry_after=verdict.retry_after,
            )

    def _store(self, target: _Target, content: Mapping[str, Any]) -> dict[str, Any]:
        """Create, store and return (a copy of) a message the bot sends."""
        chat_id = target.chat_id
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat_object(chat_id),
            "date": self._now(),
        }
        if target.thread_id is not None:
            message["message_thread_id"] = target.thread_id
            if self._is_forum(chat_id):
                message["is_topic_message"] = True
        if target.reply_to is not None:
            message["reply_to_message"] = target.reply_to
        message.update(content)
        if target.markup is not None:
            message["reply_markup"] = target.markup
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _text_and_entities(
        self,
        params: Mapping[str, Any],
        key: str,
        entities_key: str,
        limit: int,
        too_long: str,
    ) -> tuple[str, list[dict[str, Any]]] | None:
        raw = params.get(key)
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        parse_mode = params.get("parse_mode")
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                text, entities = parse_telegram_html(raw)
            except TelegramHTMLError as error:
                raise _bad(f"can't parse entities: {error}") from error
        elif parse_mode in (None, "") or (
            isinstance(parse_mode, str) and parse_mode.lower() in ("markdown", "markdownv2")
        ):
            # Markdown is echoed unparsed: the project sends HTML.
            text = raw
            given = params.get(entities_key)
            entities = given if isinstance(given, list) else []
        else:
            raise _bad("unsupported parse_mode")
        if len(text) > limit:
            raise _bad(too_long)
        return text, entities

    def _text_content(self, params: Mapping[str, Any]) -> dict[str, Any]:
        parsed = self._text_and_entities(
            params, "text", "entities", TEXT_LIMIT, "message is too long"
        )
        if parsed is None or not parsed[0].strip():
            raise _bad("message text is empty")
        content: dict[str, Any] = {"text": parsed[0]}
        if parsed[1]:
            content["entities"] = parsed[1]
        return content

    def _caption_content(self, params: Mapping[str, Any]) -> dict[str, Any]:
        parsed = self._text_and_entities(
            params, "caption", "caption_entities", CAPTION_LIMIT, "message caption is too long"
        )
        if parsed is None or not parsed[0].strip():
            return {}
        content: dict[str, Any] = {"caption": parsed[0]}
        if parsed[1]:
            content["caption_entities"] = parsed[1]
        return content

    def _file(self, kind: str, value: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        """A File-like dict for a sent file_id, URL or upload; registers new file ids."""
        if isinstance(value, UploadedFile):
            content = value.content
            file_name = value.filename
            mime = value.content_type
            if mime in ("", "application/octet-stream"):
                mime = mimetypes.guess_type(file_name)[0] or mime
            file_id = self._register_file(kind, content)
        elif isinstance(value, str) and re.match(r"https?://", value, re.IGNORECASE):
            content = b""
            file_name = value.rsplit("/", 1)[-1] or kind
            mime = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            file_id = self._register_file(kind, f"fake-download:{value}".encode())
        elif isinstance(value, str) and value:
            if value not in self.files:
                raise _bad("wrong file identifier/HTTP URL specified")
            content = self.files[value]
            file_id = value
            file_name = f"{kind}.bin"
            mime = "application/octet-stream"
        else:
            raise _bad(f"there is no {kind} in the request")
        return {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": len(content),
            "file_name": str(params.get("file_name") or file_name),
            "mime_type": mime,
        }

    def _register_file(self, kind: str, content: bytes) -> str:
        file_id = f"{_FILE_ID_PREFIX.get(kind, 'BQAC')}fake{next(self._file_ids):08d}"
        self.files[file_id] = content
        return file_id

    def _media_content(self, kind: str, value: Any, params: Mapping[str, Any]) -> dict[str, Any]:
        info = self._file(kind, value, params)
        base = {key: info[key] for key in ("file_id", "file_unique_id", "file_size")}
        if kind == "photo":
            sizes = []
            for width, height, suffix in ((90, 68, "-s"), (320, 240, "-m"), (1280, 960, "")):
                size_id = info["file_id"] + suffix
                self.files.setdefault(size_id, self.files.get(info["file_id"], b""))
                sizes.append(
                    {
                        "file_id": size_id,
                        "file_unique_id": _unique_id(size_id),
                        "file_size": info["file_size"],
                        "width": width,
                        "height": height,
                    }
                )
            return {"photo": sizes}
        duration = _as_int(params.get("duration"), "duration", default=1)
        width = _as_int(params.get("width"), "width", default=640)
        height = _as_int(params.get("height"), "height", default=480)
        shapes: dict[str, dict[str, Any]] = {
            "document": {"file_name": info["file_name"], "mime_type": info["mime_type"]},
            "video": {"width": width, "height": height, "duration": duration,
                      "mime_type": "video/mp4"},
            "animation": {"width": width, "height": height, "duration": duration},
            "voice": {"duration": duration, "mime_type": "audio/ogg"},
            "audio": {"duration": duration, "mime_type": "audio/mpeg"},
            "video_note": {"length": 240, "duration": duration},
            "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False,
                        "is_video": False},
        }  # fmt: skip
        return {kind: {**base, **shapes[kind]}}

    # -- method handlers --------------------------------------------------------------------

    def _method_table(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        table: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "logOut": _true,
            "close": _true,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": lambda p: self._send_media("sendPhoto", "photo", p),
            "sendDocument": lambda p: self._send_media("sendDocument", "document", p),
            "sendVideo": lambda p: self._send_media("sendVideo", "video", p),
            "sendVoice": lambda p: self._send_media("sendVoice", "voice", p),
            "sendAudio": lambda p: self._send_media("sendAudio", "audio", p),
            "sendAnimation": lambda p: self._send_media("sendAnimation", "animation", p),
            "sendVideoNote": lambda p: self._send_media("sendVideoNote", "video_note", p),
            "sendSticker": lambda p: self._send_media("sendSticker", "sticker", p),
            "sendLocation": self._send_location,
            "sendVenue": self._send_venue,
            "sendContact": self._send_contact,
            "sendDice": self._send_dice,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "createForumTopic": self._create_forum_topic,
            "closeForumTopic": lambda p: self._set_topic_closed(p, closed=True),
            "reopenForumTopic": lambda p: self._set_topic_closed(p, closed=False),
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
        }
        for name in (
            "setMyDescription",
            "setMyShortDescription",
            "setMyName",
            "setChatMenuButton",
            "pinChatMessage",
            "unpinChatMessage",
            "setMessageReaction",
            "leaveChat",
        ):
            table[name] = _true
        return table

    def _get_me(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        self._webhook_error = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if self.strict_webhooks:
            parsed = re.match(r"https://[^/:]+(?::(\d+))?(?:/|$)", url, re.IGNORECASE)
            if parsed is None:
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if parsed.group(1) not in (None, "80", "88", "443", "8443"):
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None
        self.webhook = {
            key: params[key]
            for key in (
                "url",
                "secret_token",
                "max_connections",
                "ip_address",
                "allowed_updates",
                "drop_pending_updates",
            )
            if key in params
        }
        self._webhook_error = None
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("Conflict: terminated by setWebhook request")
        self._kick_webhook()
        return True

    def _get_webhook_info(self, _params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook is not None:
            info["url"] = self.webhook["url"]
            info["max_connections"] = int(self.webhook.get("max_connections") or 40)
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        content = self._text_content(params)
        if isinstance(params.get("link_preview_options"), dict):
            content["link_preview_options"] = params["link_preview_options"]
        self._throttle("sendMessage", target.chat_id)
        return self._store(target, content)

    def _send_media(self, method: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        caption = self._caption_content(params) if kind not in ("sticker", "video_note") else {}
        content = self._media_content(kind, params.get(kind), params)
        if kind == "sticker" and isinstance(params.get("emoji"), str):
            content["sticker"]["emoji"] = params["emoji"]
        self._throttle(method, target.chat_id)
        return self._store(target, {**content, **caption})

    def _send_location(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        location = _location(params)
        self._throttle("sendLocation", target.chat_id)
        return self._store(target, {"location": location})

    def _send_venue(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        location = _location(params)
        title, address = params.get("title"), params.get("address")
        if not title or not address:
            raise _bad("venue title and address must be non-empty")
        venue = {"location": location, "title": str(title), "address": str(address)}
        self._throttle("sendVenue", target.chat_id)
        return self._store(target, {"location": location, "venue": venue})

    def _send_contact(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        phone, first_name = params.get("phone_number"), params.get("first_name")
        if not phone or not first_name:
            raise _bad("contact phone number and first name must be non-empty")
        contact: dict[str, Any] = {"phone_number": str(phone), "first_name": str(first_name)}
        for key in ("last_name", "vcard"):
            if params.get(key):
                contact[key] = str(params[key])
        self._throttle("sendContact", target.chat_id)
        return self._store(target, {"contact": contact})

    def _send_dice(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        emoji = str(params.get("emoji") or "🎲")
        self._throttle("sendDice", target.chat_id)
        return self._store(target, {"dice": {"emoji": emoji, "value": 4}})

    def _send_media_group(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        target = self._target(params)
        media = params.get("media")
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise _bad("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise _bad("wrong number of media in the group: must be between 2 and 10")
        kinds = [str(item.get("type")) for item in media]
        if len(set(kinds)) > 1 and ("document" in kinds or "audio" in kinds):
            raise _bad("documents and audio can't be mixed with other media types in a group")
        contents = []
        for item, kind in zip(media, kinds, strict=True):
            if kind not in ("photo", "video", "document", "audio"):
                raise _bad(f"wrong media type {kind!r} in a media group")
            content = self._media_content(kind, item.get("media"), item)
            content.update(self._caption_content(item))
            contents.append(content)
        self._throttle("sendMediaGroup", target.chat_id)
        group_id = str(next(self._media_groups))
        plain_target = _Target(target.chat_id, target.thread_id, target.reply_to, None)
        return [
            self._store(plain_target, {**content, "media_group_id": group_id})
            for content in contents
        ]

    def _source_message(self, params: dict[str, Any], action: str) -> dict[str, Any]:
        from_chat = self._resolve_chat(params, "from_chat_id")
        message_id = _as_int(params.get("message_id"), "message_id")
        found = self._messages.get((from_chat, message_id))
        if found is None:
            raise _bad(f"message to {action} not found")
        if not any(key in found for key in _CONTENT_KEYS):
            raise _bad(f"the message can't be {action}ed")
        return found

    def _copy_message(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        source = self._source_message(params, "copy")
        content: dict[str, Any] = {
            key: copy.deepcopy(source[key]) for key in _CONTENT_KEYS if key in source
        }
        if "caption" in params:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption_content(params))
        self._throttle("copyMessage", target.chat_id)
        return {"message_id": self._store(target, content)["message_id"]}

    def _forward_message(self, params: dict[str, Any]) -> dict[str, Any]:
        target = self._target(params)
        target = _Target(target.chat_id, target.thread_id, None, None)
        source = self._source_message(params, "forward")
        content: dict[str, Any] = {
            key: copy.deepcopy(source[key]) for key in _CONTENT_KEYS if key in source
        }
        source_chat = source["chat"]
        origin: dict[str, Any]
        if source_chat.get("type") == "channel":
            origin = {"type": "channel", "chat": source_chat, "message_id": source["message_id"]}
        elif isinstance(source.get("from"), dict):
            origin = {"type": "user", "sender_user": source["from"]}
        else:
            origin = {"type": "chat", "sender_chat": source_chat}
        content["forward_origin"] = {**origin, "date": source["date"]}
        self._throttle("forwardMessage", target.chat_id)
        return self._store(target, content)

    def _editable(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored message an edit targets; ``None`` for an inline message."""
        if params.get("inline_message_id"):
            return None
        chat_id = self._resolve_chat(params)
        message_id = _as_int(params.get("message_id"), "message_id")
        found = self._messages.get((chat_id, message_id))
        if found is None:
            raise _bad("message to edit not found")
        if found.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return found

    def _edited(
        self, message: dict[str, Any], changes: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        before = {key: message.get(key) for key in (*changes, "reply_markup")}
        after = {**changes, "reply_markup": markup}
        if before == after:
            raise _bad(_NOT_MODIFIED)
        for key, value in after.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = self._now()
        return copy.deepcopy(message)

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _check_markup(params.get("reply_markup"))
        content = self._text_content(params)
        message = self._editable(params)
        if message is None:
            return True
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        changes = {"text": content["text"], "entities": content.get("entities")}
        if isinstance(params.get("link_preview_options"), dict):
            changes["link_preview_options"] = params["link_preview_options"]
        return self._edited(message, changes, markup)

    def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _check_markup(params.get("reply_markup"))
        content = self._caption_content(params)
        message = self._editable(params)
        if message is None:
            return True
        if not any(key in message for key in _MEDIA_KEYS):
            raise _bad("there is no caption in the message to edit")
        changes = {
            "caption": content.get("caption"),
            "caption_entities": content.get("caption_entities"),
        }
        return self._edited(message, changes, markup)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = _check_markup(params.get("reply_markup"))
        message = self._editable(params)
        if message is None:
            return True
        return self._edited(message, {}, markup)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._resolve_chat(params)
        message_id = _as_int(params.get("message_id"), "message_id")
        if self._messages.pop((chat_id, message_id), None) is None:
            raise _bad("message to delete not found")
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if isinstance(text, str) and len(text) > CALLBACK_ANSWER_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        chat_id = self._resolve_chat(params)
        self._check_blocked(chat_id)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        return {
            **self._chat_object(chat_id),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        spec = self.chat_members.get((chat_id, user_id))
        if spec is None:
            if user_id == self.bot_id:
                spec = "administrator"
            elif chat_id == user_id:
                spec = "member"
            else:
                spec = "left"
        if user_id == self.bot_id:
            user = self.bot_user
        else:
            user = self.users.get(user_id) or _default_user(user_id)
        if isinstance(spec, dict):
            return {"user": user, **copy.deepcopy(spec)}
        shapes: dict[str, dict[str, Any]] = {
            "creator": {"is_anonymous": False},
            "administrator": {
                "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                "can_delete_messages": True, "can_manage_video_chats": True,
                "can_restrict_members": True, "can_promote_members": False,
                "can_change_info": True, "can_invite_users": True, "can_post_stories": False,
                "can_edit_stories": False, "can_delete_stories": False,
                "can_send_welcome_messages": False, "can_pin_messages": True,
                "can_manage_topics": True,
            },
            "member": {},
            "restricted": {
                "is_member": True, "until_date": 0,
                **{f"can_{right}": False for right in (
                    "send_messages", "send_audios", "send_documents", "send_photos",
                    "send_videos", "send_video_notes", "send_voice_notes", "send_polls",
                    "send_other_messages", "add_web_page_previews", "react_to_messages",
                    "edit_tag", "change_info", "invite_users", "pin_messages", "manage_topics",
                )},
            },
            "left": {},
            "kicked": {"until_date": 0},
        }  # fmt: skip
        if spec not in shapes:
            msg = f"Internal Server Error: fake configured with unknown member status {spec!r}"
            raise _ApiError(500, msg)
        return {"status": spec, "user": user, **shapes[spec]}

    def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        user_id = _as_int(params.get("user_id"), "user_id")
        return self._member(chat_id, user_id)

    def _get_chat_administrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat_id = self._resolve_chat(params)
        if chat_id > 0:
            raise _bad("there are no administrators in the private chat")
        user_ids = [user for (chat, user) in self.chat_members if chat == chat_id]
        if self.bot_id not in user_ids:
            user_ids.append(self.bot_id)
        members = [self._member(chat_id, user_id) for user_id in user_ids]
        return [m for m in members if m["status"] in ("creator", "administrator")]

    def _create_forum_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        if not self._is_forum(chat_id):
            raise _bad("the chat is not a forum")
        name = str(params.get("name") or "")
        if not name:
            raise _bad("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise _bad("TOPIC_TITLE_TOO_LONG")  # not verified against Telegram
        icon_color = _as_int(params.get("icon_color"), "icon_color", default=7322096)
        created = {"name": name, "icon_color": icon_color}
        target = _Target(chat_id, None, None, None)
        service = self._store(target, {"forum_topic_created": created})
        thread_id = service["message_id"]
        stored = self._messages[(chat_id, thread_id)]
        stored["message_thread_id"] = thread_id
        stored["is_topic_message"] = True
        self.topics[(chat_id, thread_id)] = {**created, "closed": False}
        topic = {"message_thread_id": thread_id, "name": name, "icon_color": icon_color}
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = str(params["icon_custom_emoji_id"])
        return topic

    def _set_topic_closed(self, params: dict[str, Any], *, closed: bool) -> bool:
        chat_id = self._resolve_chat(params)
        thread_id = _as_int(params.get("message_thread_id"), "message_thread_id")
        topic = self.topics.get((chat_id, thread_id))
        if topic is None:
            raise _bad("TOPIC_ID_INVALID")
        if topic.get("closed") == closed:
            raise _bad("TOPIC_NOT_MODIFIED")
        topic["closed"] = closed
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        scope_key = json.dumps(scope, sort_keys=True) if isinstance(scope, dict) else "default"
        return scope_key, str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise _bad("invalid file_id")
        path = self._file_paths.setdefault(file_id, f"files/file_{len(self._file_paths) + 1}")
        return {
            "file_id": file_id,
            "file_unique_id": _unique_id(file_id),
            "file_size": len(self.files[file_id]),
            "file_path": path,
        }


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _true(_params: dict[str, Any]) -> bool:
    return True


def _client_gone() -> _Outcome:
    return _Outcome(499, {"ok": False, "error_code": 499, "description": "client went away"})


def _default_user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}


def _unique_id(file_id: str) -> str:
    return "AQAD" + file_id[-12:]


def _as_int(value: Any, name: str, *, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise _bad(f"{name} is empty")
        return default
    if isinstance(value, bool):
        raise _bad(f'field "{name}" must be of type Integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _bad(f'field "{name}" must be of type Integer')


def _location(params: Mapping[str, Any]) -> dict[str, Any]:
    latitude, longitude = params.get("latitude"), params.get("longitude")
    if not isinstance(latitude, int | float) or not -90 <= latitude <= 90:
        raise _bad("wrong latitude")  # not verified against Telegram
    if not isinstance(longitude, int | float) or not -180 <= longitude <= 180:
        raise _bad("wrong longitude")  # not verified against Telegram
    location: dict[str, Any] = {"latitude": float(latitude), "longitude": float(longitude)}
    for key in ("horizontal_accuracy", "live_period", "heading"):
        if isinstance(params.get(key), int | float):
            location[key] = params[key]
    return location


def _check_markup(markup: Any) -> dict[str, Any] | None:
    """Validate ``reply_markup`` like Telegram; return it if it is echoed in the Message."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array")
        for button in itertools.chain.from_iterable(rows):
            _check_inline_button(button)
        return copy.deepcopy(markup)
    if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
        return None  # reply keyboards are not part of the Message object
    raise _bad("can't parse reply keyboard markup JSON object")


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    data = button.get("callback_data")
    if data is not None and (
        not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT
    ):
        raise _bad("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not re.match(r"(https?|tg)://\S+$", str(url), re.IGNORECASE):
        raise _bad("BUTTON_URL_INVALID")
    if not any(key in button for key in _BUTTON_ACTIONS):
        raise _bad(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )


def _iter_lines() -> Iterator[str]:
    yield from sys.stdin


async def _cli(args: argparse.Namespace) -> None:
    """Run the fake until stdin closes, pushing updates typed as commands."""
    from fakes.telegram_updates import callback_update, message_update  # noqa: PLC0415

    limits = RateLimits(enforce=args.enforce_limits) if args.limits else None
    server = FakeTelegramServer(token=args.token, limits=limits, port=args.port)
    server.on_call = lambda call: print(call.summary(), flush=True)
    await server.start()
    print(f"fake Telegram Bot API at {server.base_url} (token {server.token})", flush=True)
    print(
        "commands: user <id> <text> | press <chat_id> <message_id> <data> | sent [chat_id] | quit",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    lines = _iter_lines()
    try:
        while True:
            line = await loop.run_in_executor(None, next, lines, "quit")
            words = line.split(maxsplit=2)
            try:
                if not words:
                    continue
                if words[0] == "quit":
                    return
                if words[0] == "user" and len(words) == 3:
                    update = message_update(int(words[1]), words[2].rstrip("\n"))
                    print("pushed", server.push_update(update), flush=True)
                elif words[0] == "press" and len(words) == 3:
                    message_id, data = words[2].split(maxsplit=1)
                    chat_id = int(words[1])
                    pushed = server.press_button(chat_id, int(message_id), data=data.strip())
                    print("pushed", pushed, flush=True)
                elif words[0] == "click" and len(words) == 3:
                    update = callback_update(int(words[1]), words[2].strip())
                    print("pushed", server.push_update(update), flush=True)
                elif words[0] == "sent":
                    chat = int(words[1]) if len(words) > 1 else None
                    for call in server.sent_messages(chat):
                        print(call.summary(), flush=True)
                else:
                    print("?", line.strip(), flush=True)
            except (ValueError, AssertionError) as error:
                print("error:", error, flush=True)
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m fakes.telegram_api --port 8081``: run the fake for manual tries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--limits", action="store_true", help="apply Telegram's flood limits")
    parser.add_argument(
        "--enforce-limits", action="store_true", help="answer 429 instead of only logging"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_cli(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
