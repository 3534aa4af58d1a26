"""Turns channel-neutral ``Reply`` values into Viber message JSON: text splits and keyboards.

Pure functions, no I/O: ``ViberChannel`` adds the receiver, the sender and the paging state.
The messages themselves are built by viberbot's message classes, checked by their
``validate()`` and serialised by their ``to_dict()`` (``bot.viber.sdk``); the keyboards are laid
out here, because viberbot has no keyboard or button classes (a message takes a plain dict).

Viber keeps one custom keyboard per chat, the one on the most recent message, so a reply's
buttons become the keyboard of that reply's last message. A keyboard holds at most 24 rows;
longer button lists are cut into pages of 23 rows plus a "more" button that shows the next page
(the last page's "more" wraps to the first). Sending the overflow as separate keyboards would
not work: each new keyboard replaces the previous one on screen.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.viber.errors import ViberError
from bot.viber.sdk import keyboard_message, location_message, picture_message, text_message
from domain.messages import Button, ButtonKind, Reply

__all__ = [
    "BUTTON_TEXT_LIMIT",
    "KEYBOARD_COLUMNS",
    "KEYBOARD_MAX_ROWS",
    "KEYBOARD_ONLY",
    "MORE_PAYLOAD",
    "SHARE_MIN_API_VERSION",
    "TEXT_LIMIT",
    "Content",
    "KeyboardOnly",
    "LocationContent",
    "PictureContent",
    "RenderedReply",
    "TextContent",
    "button_text",
    "keyboard_pages",
    "keyboard_rows",
    "render_reply",
    "split_text",
    "viber_message",
]

logger = logging.getLogger(__name__)

TEXT_LIMIT = 7000  # characters of a text message
PICTURE_TEXT_LIMIT = 768  # characters of a picture's description
BUTTON_TEXT_LIMIT = 250  # characters of a button's Text, markup included
KEYBOARD_COLUMNS = 6
KEYBOARD_MAX_ROWS = 24
# location-picker and share-phone buttons exist from Viber API level 3 on.
SHARE_MIN_API_VERSION = 3
# The adapter's own payload for the paging button; the webhook answers it without the handler.
MORE_PAYLOAD = "v1:viber:more"
DEFAULT_MORE_LABEL = "➡️ …"

Json = dict[str, Any]


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut ``text`` into non-empty parts of at most ``limit`` characters.

    Cuts prefer a paragraph break, then a line break, then a space, within the second half of
    the allowed window; a word longer than that is cut hard. Whitespace at a cut is dropped.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]  # a separator right after the limit is a clean cut too
        cut = -1
        for separator in ("\n\n", "\n", " "):
            position = window.rfind(separator, limit // 2)
            if position > 0:
                cut = position
                break
        if cut <= 0:
            cut = limit
        head = rest[:cut].rstrip()
        if not head:  # only whitespace before the cut: cut hard instead
            head, cut = rest[:limit], limit
        parts.append(head)
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def button_text(label: str) -> str:
    """A label as button ``Text``: Viber reads it as HTML-like markup, so it is escaped."""
    text = html.escape(label, quote=False)
    if len(text) <= BUTTON_TEXT_LIMIT:
        return text
    cut = BUTTON_TEXT_LIMIT - 1
    while True:
        text = html.escape(label[:cut].rstrip(), quote=False) + "…"
        if len(text) <= BUTTON_TEXT_LIMIT:
            return text
        cut -= 1


def _button_json(button: Button, columns: int) -> Json:
    data: Json = {"Columns": columns, "Rows": 1, "Text": button_text(button.label)}
    match button.kind:
        case ButtonKind.URL:
            data.update(ActionType="open-url", ActionBody=button.payload)
        case ButtonKind.SHARE_LOCATION:
            data.update(ActionType="location-picker", ActionBody=button.payload or "location")
        case ButtonKind.SHARE_CONTACT:
            data.update(ActionType="share-phone", ActionBody=button.payload or "phone")
        case _:
            # Viber posts ActionBody back as the person's text; Silent keeps the machine
            # payload ("v1:...") out of their chat history.
            data.update(ActionType="reply", ActionBody=button.payload or button.label)
            data["Silent"] = True
    return data


def _widths(count: int) -> list[int]:
    base, extra = divmod(KEYBOARD_COLUMNS, count)
    return [base + 1 if index < extra else base for index in range(count)]


def keyboard_rows(rows: Sequence[Sequence[Button]]) -> list[list[Json]]:
    """Lay out rows of buttons as Viber keyboard rows: the 6 columns shared out evenly.

    A row of more than 6 buttons becomes several balanced keyboard rows.
    """
    laid_out: list[list[Json]] = []
    for row in rows:
        buttons = list(row)
        if not buttons:
            continue
        lines = -(-len(buttons) // KEYBOARD_COLUMNS)
        base, extra = divmod(len(buttons), lines)
        start = 0
        for line in range(lines):
            size = base + 1 if line < extra else base
            chunk = buttons[start : start + size]
            start += size
            laid_out.append(
                [
                    _button_json(button, width)
                    for button, width in zip(chunk, _widths(size), strict=True)
                ]
            )
    return laid_out


def _keyboard(lines: Sequence[Sequence[Json]]) -> Json:
    return {
        "Type": "keyboard",
        "DefaultHeight": False,
        "Buttons": [button for line in lines for button in line],
    }


def keyboard_pages(
    rows: Sequence[Sequence[Button]], *, more_label: str = DEFAULT_MORE_LABEL
) -> list[Json]:
    """One keyboard, or pages of 23 rows plus a "more" row when there are over 24 rows."""
    lines = keyboard_rows(rows)
    if not lines:
        return []
    if len(lines) <= KEYBOARD_MAX_ROWS:
        return [_keyboard(lines)]
    more = Button(label=more_label, payload=MORE_PAYLOAD)
    more_line = [_button_json(more, KEYBOARD_COLUMNS)]
    per_page = KEYBOARD_MAX_ROWS - 1
    return [
        _keyboard([*lines[start : start + per_page], more_line])
        for start in range(0, len(lines), per_page)
    ]


def min_api_version(keyboard: Json | None) -> int | None:
    """The ``min_api_version`` a message carrying ``keyboard`` must declare, if any."""
    for button in (keyboard or {}).get("Buttons", ()):
        if button.get("ActionType") in {"location-picker", "share-phone"}:
            return SHARE_MIN_API_VERSION
    return None


@dataclass(frozen=True, slots=True)
class TextContent:
    """A ``text`` message's content."""

    text: str


@dataclass(frozen=True, slots=True)
class PictureContent:
    """A ``picture`` message's content: a public URL and a description (may be empty)."""

    media: str
    text: str


@dataclass(frozen=True, slots=True)
class LocationContent:
    """A ``location`` message's content."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class KeyboardOnly:
    """No content: the message only shows its keyboard."""


KEYBOARD_ONLY = KeyboardOnly()

Content = TextContent | PictureContent | LocationContent | KeyboardOnly


def viber_message(content: Content, keyboard: Json | None = None) -> Json:
    """The message JSON (without receiver or sender) for ``content`` carrying ``keyboard``.

    Built with viberbot's message class for the type, checked by its ``validate()``
    (``ViberSdkError`` when refused) and serialised by its ``to_dict()``; the keyboard's
    buttons decide the API level the message declares.
    """
    version = min_api_version(keyboard)
    match content:
        case TextContent(text=text):
            return text_message(text, keyboard=keyboard, min_api_version=version)
        case PictureContent(media=media, text=text):
            return picture_message(media, text, keyboard=keyboard, min_api_version=version)
        case LocationContent(latitude=latitude, longitude=longitude):
            return location_message(latitude, longitude, keyboard=keyboard, min_api_version=version)
        case KeyboardOnly():
            if keyboard is None:
                raise ValueError("a keyboard-only message needs a keyboard")
            return keyboard_message(keyboard, min_api_version=version)


@dataclass(frozen=True, slots=True)
class RenderedReply:
    """One reply as message contents (in sending order) and its keyboard pages."""

    messages: list[Content] = field(default_factory=list)
    keyboards: list[Json] = field(default_factory=list)


def _is_web_url(ref: str) -> bool:
    return ref.startswith(("https://", "http://"))


def _location_accepted(content: LocationContent) -> bool:
    # viberbot's LocationMessage.validate() refuses a point on a bound (|lat| = 90 or
    # |lon| = 180) or out of range; such a point is left out like a photo without a URL.
    try:
        viber_message(content)
    except ViberError:
        return False
    return True


def reply_text(reply: Reply) -> str:
    """The reply's title and text as one plain text (Viber messages have no markup)."""
    title = (reply.title or "").strip()
    text = reply.text.strip()
    if title and text:
        return f"{title}\n\n{text}"
    return title or text


def render_reply(reply: Reply, *, more_label: str = DEFAULT_MORE_LABEL) -> RenderedReply:
    """The messages that show ``reply``: media first, then the text (which gets the keyboard).

    Viber can only fetch media from a public URL, so ``image`` and ``document`` bytes cannot be
    sent; they are dropped (and logged by the caller's chat id) and the text goes alone.
    """
    messages: list[Content] = []
    if reply.photo is not None:
        if _is_web_url(reply.photo.ref):
            caption = (reply.photo.caption or "").strip()
            if len(caption) > PICTURE_TEXT_LIMIT:
                caption = caption[: PICTURE_TEXT_LIMIT - 1].rstrip() + "…"
            messages.append(PictureContent(media=reply.photo.ref, text=caption))
        else:
            logger.warning("viber: a photo reference that is not a URL was dropped")
    if reply.location is not None:
        point = LocationContent(reply.location.latitude, reply.location.longitude)
        if _location_accepted(point):
            messages.append(point)
        else:
            logger.warning("viber: a location viberbot does not accept was dropped")
    messages.extend(TextContent(part) for part in split_text(reply_text(reply)))
    keyboards = keyboard_pages(reply.buttons, more_label=more_label)
    if keyboards and not messages:
        # A keyboard may travel alone (viberbot's KeyboardMessage: no "type").
        messages.append(KEYBOARD_ONLY)
    return RenderedReply(messages=messages, keyboards=keyboards)
