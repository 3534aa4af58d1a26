"""Short answers to staff in Telegram: a pressed button's toast or alert, a note in reply.

Both are best effort: a lost answer changes nothing (a button's spinner stops by itself, and
what the note says is already done or refused), so a failure is logged, never raised.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import AiogramError
from aiogram.types import CallbackQuery, Message

from bot.telegram.render import escape

logger = logging.getLogger(__name__)

ANSWER_LIMIT = 200  # Telegram's limit for a callback answer's text


async def answer_query(
    query: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Stop the pressed button's spinner, showing ``text`` as a toast (or an alert)."""
    try:
        await query.answer(text[:ANSWER_LIMIT] if text else text, show_alert=alert)
    except AiogramError as error:
        logger.info("callback query %s could not be answered: %s", query.id, type(error).__name__)


async def reply_note(message: Message, text: str) -> None:
    """A short note (plain text) replying to a staff member's message, in the same thread."""
    try:
        await message.reply(escape(text))
    except AiogramError as error:
        logger.info("note to chat %s failed: %s", message.chat.id, type(error).__name__)
