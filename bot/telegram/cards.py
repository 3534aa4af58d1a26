"""A request's card in the staff chats: rendered to fit one message, read, edited in place.

The card itself (text and buttons) is ``services.cards``; here it becomes Telegram HTML within
Telegram's limits, and an existing card message is edited after a change. Staff work in
Ukrainian: ``staff_text`` is every staff-facing string of the card modules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

from bot.telegram.render import (
    CAPTION_ROOM,
    TEXT_LIMIT,
    keyboards,
    render_caption_parts,
    render_text_parts,
)
from domain.identity import ChannelName
from domain.messages import Reply
from domain.requests import Request, StatusChange
from services.requests import RequestService
from storage.base import Storage

logger = logging.getLogger(__name__)

STAFF_LANGUAGE = "uk"
_SHORTEST_DESCRIPTION = 200  # a card edited in place is cut to one message, never below this


def staff_text(service: RequestService, key: str, /, **values: object) -> str:
    return service.texts.get(STAFF_LANGUAGE, key, **values)


async def read_card(
    database: Storage, service: RequestService, request_id: int
) -> tuple[Request, list[StatusChange]] | None:
    """What a card shows: the request and its history (None when there is no such request)."""
    async with database.transaction() as session:
        request = await service.get(session, request_id)
        if request is None:
            return None
        return request, await service.history(session, request_id)


def fit_card(
    service: RequestService, request: Request, history: Sequence[StatusChange], limit: int
) -> Reply:
    """The card, its description shortened until the rendered card fits ``limit`` characters
    (an edited card is one message; the full text stays in the database)."""
    card = service.render_card(request, history, STAFF_LANGUAGE, shown_in=ChannelName.TELEGRAM)
    description = request.description
    while _html_length(card) > limit and len(description) > _SHORTEST_DESCRIPTION:
        overflow = _html_length(card) - limit
        description = description[: max(_SHORTEST_DESCRIPTION, len(description) - overflow - 1)]
        card = service.render_card(
            replace(request, description=description + "…"), history, shown_in=ChannelName.TELEGRAM
        )
    return card


def _html_length(card: Reply) -> int:
    return sum(len(part) for part in render_text_parts(card))


def card_text_html(card: Reply) -> str:
    return render_text_parts(card)[0]


def card_caption_html(card: Reply) -> str:
    # The same cut as TelegramChannel makes for a card sent with its photo.
    return render_caption_parts(card)[0]


def is_media(message: Message) -> bool:
    """A card sent with its photo: edited as a caption, not as a text."""
    return message.text is None


async def edit_card(
    bot: Bot,
    chat_id: int,
    message_id: int,
    *,
    service: RequestService,
    request: Request,
    history: Sequence[StatusChange],
    media: bool | None = None,
) -> bool:
    """Edit the card message in place; ``media=None`` tries text, then caption."""
    card = fit_card(service, request, history, CAPTION_ROOM if media else TEXT_LIMIT)
    markup = keyboards(card).inline
    try:
        if media:
            await _edit_caption(bot, chat_id, message_id, card, markup)
        else:
            try:
                await bot.edit_message_text(
                    text=card_text_html(card),
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
            except TelegramBadRequest as error:
                if media is None and "no text" in error.message:
                    await _edit_caption(bot, chat_id, message_id, card, markup)
                else:
                    raise
    except TelegramBadRequest as error:
        if "not modified" in error.message:
            return True
        logger.warning("card of request %s not edited: %s", request.id, error.message)
        return False
    except AiogramError as error:
        logger.warning("card of request %s not edited: %s", request.id, type(error).__name__)
        return False
    return True


async def _edit_caption(
    bot: Bot, chat_id: int, message_id: int, card: Reply, markup: InlineKeyboardMarkup | None
) -> None:
    await bot.edit_message_caption(
        chat_id=chat_id, message_id=message_id, caption=card_caption_html(card), reply_markup=markup
    )
