"""Turns channel-neutral replies into Telegram messages: escaped HTML, split text, keyboards."""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from domain.messages import ButtonKind, Reply
from domain.payloads import MAX_BYTES

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CAPTION_ROOM = CAPTION_LIMIT - 80  # the text's share of a caption: the bold title fits in the rest
BUTTON_TEXT_LIMIT = 64  # Telegram shows longer labels cut anyway; keep them readable


@dataclass(frozen=True)
class Keyboards:
    """The markups one reply needs: inline (payload/url buttons) and reply (share pickers)."""

    inline: InlineKeyboardMarkup | None
    share: ReplyKeyboardMarkup | None


def escape(text: str) -> str:
    """User and content text is data, never markup (invariant 4)."""
    return html.escape(text, quote=False)


def reply_html(reply: Reply) -> str:
    body = escape(reply.text)
    if reply.title:
        return f"<b>{escape(reply.title)}</b>\n{body}"
    return body


def split_html_safe(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split plain ``text`` into pieces whose *escaped* form fits ``limit``, preferring to cut at
    paragraph, line, then word boundaries."""
    pieces: list[str] = []
    rest = text
    while len(escape(rest)) > limit:
        cut = _fit(rest, limit)
        window = rest[:cut]
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > cut // 2:
                cut = at + len(separator)
                break
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _fit(text: str, limit: int) -> int:
    """The longest prefix length whose escaped form is within ``limit``."""
    size = 0
    for index, char in enumerate(text):
        size += len(escape(char))
        if size > limit:
            return max(index, 1)
    return len(text)


def render_text_parts(reply: Reply) -> list[str]:
    """The reply as one or more HTML messages within Telegram's limit (title bold on the first)."""
    title = f"<b>{escape(reply.title)}</b>\n" if reply.title else ""
    room = TEXT_LIMIT - len(title)
    chunks = split_html_safe(reply.text, room)
    return [(title if i == 0 else "") + escape(chunk) for i, chunk in enumerate(chunks)]


def render_caption_parts(reply: Reply) -> list[str]:
    """The reply as a media caption (HTML, title bold), then what did not fit in it as HTML
    messages of their own."""
    title = f"<b>{escape(reply.title)}</b>\n" if reply.title else ""
    first, *rest = split_html_safe(reply.text, CAPTION_ROOM)
    return [title + escape(first), *(escape(chunk) for chunk in rest)]


def keyboards(reply: Reply) -> Keyboards:
    inline_rows: list[list[InlineKeyboardButton]] = []
    share_rows: list[list[KeyboardButton]] = []
    for row in reply.buttons:
        inline_row: list[InlineKeyboardButton] = []
        share_row: list[KeyboardButton] = []
        for button in row:
            label = button.label[:BUTTON_TEXT_LIMIT]
            if button.kind is ButtonKind.PAYLOAD:
                if len(button.payload.encode()) > MAX_BYTES:
                    raise ValueError(f"callback data over {MAX_BYTES} bytes: {button.payload!r}")
                inline_row.append(InlineKeyboardButton(text=label, callback_data=button.payload))
            elif button.kind is ButtonKind.URL:
                inline_row.append(InlineKeyboardButton(text=label, url=button.payload))
            elif button.kind is ButtonKind.SHARE_LOCATION:
                share_row.append(KeyboardButton(text=label, request_location=True))
            else:
                share_row.append(KeyboardButton(text=label, request_contact=True))
        if inline_row:
            inline_rows.append(inline_row)
        if share_row:
            share_rows.append(share_row)
    return Keyboards(
        inline=InlineKeyboardMarkup(inline_keyboard=inline_rows) if inline_rows else None,
        share=ReplyKeyboardMarkup(keyboard=share_rows, resize_keyboard=True, one_time_keyboard=True)
        if share_rows
        else None,
    )
