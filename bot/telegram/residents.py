"""aiogram callbacks for residents' private chats: convert, run the conversation, send replies.

The update is processed and committed, replies included, before the handler returns, so the
webhook's 200 (or polling's next offset) only ever acknowledges what is safe; the replies are
then sent in the background by the ``ReplySender`` (notifications.replies). An update the
database could not take is refused (an exception: HTTP 500), and Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiogram import Router
from aiogram.types import CallbackQuery, Message, Update

from bot.telegram.channel import chat_ref
from bot.telegram.filters import PrivateChat
from domain.messages import Contact, Incoming, Kind, Location, Photo
from handlers.conversation import Conversation
from notifications.replies import ReplySender

logger = logging.getLogger(__name__)


def create_router() -> Router:
    """A fresh router per dispatcher: aiogram attaches a router to one parent only, and tests
    and the crash test build several dispatchers in one process."""
    router = Router(name=__name__)
    router.message.filter(PrivateChat())
    router.callback_query.filter(PrivateChat())
    router.message.register(on_message)
    router.callback_query.register(on_callback)
    return router


def message_to_incoming(message: Message, update_id: int | None) -> Incoming:
    """Every Telegram message kind maps onto one channel-neutral kind; nothing is dropped."""
    sender = message.from_user
    user = chat_ref(message.chat.id)
    key = f"tg:{update_id}" if update_id is not None else None
    make = partial(
        Incoming, user=user, update_key=key, language_hint=sender.language_code if sender else None
    )
    if message.text is not None:
        return make(kind=Kind.TEXT, text=message.text)
    if message.location is not None:
        location = Location(message.location.latitude, message.location.longitude)
        return make(kind=Kind.LOCATION, location=location)
    if message.contact is not None:
        own = sender is not None and message.contact.user_id == sender.id
        contact = Contact(message.contact.phone_number, own=own)
        return make(kind=Kind.CONTACT, contact=contact)
    if message.photo:
        largest = message.photo[-1]
        photo = Photo(largest.file_id, caption=message.caption)
        return make(kind=Kind.PHOTO, photo=photo)
    if message.sticker is not None:
        return make(kind=Kind.STICKER)
    if message.voice is not None or message.audio is not None or message.video_note is not None:
        return make(kind=Kind.VOICE)
    if message.video is not None or message.animation is not None:
        return make(kind=Kind.VIDEO)
    if message.document is not None:
        return make(kind=Kind.DOCUMENT)
    return make(kind=Kind.OTHER)


class UpdateNotCommitted(Exception):
    """The database stayed busy: the update is refused so that Telegram sends it again."""


BUSY_RETRIES = (1.0, 3.0)  # seconds; then the update is refused (polling: logged, lost)


async def process(
    incoming: Incoming,
    conversation: Conversation,
    reply_sender: ReplySender,
    *,
    redelivered: bool,
) -> None:
    """Process ``incoming`` and hand its replies to the sender.

    ``redelivered``: the update comes again when this raises (a webhook answered 500). With long
    polling nothing comes again (aiogram confirms the offset whatever the handler did), so when
    the database stays busy the resident is asked to repeat instead.
    """
    handled = await conversation.process(incoming)
    for pause in BUSY_RETRIES:
        if handled.committed:
            break
        await asyncio.sleep(pause)
        handled = await conversation.process(incoming)
    if not handled.committed and redelivered:
        raise UpdateNotCommitted(incoming.update_key)
    reply_sender.send(incoming.user, handled)


async def on_message(
    message: Message,
    event_update: Update,
    conversation: Conversation,
    reply_sender: ReplySender,
    updates_redelivered: bool = False,
) -> None:
    await process(
        message_to_incoming(message, event_update.update_id),
        conversation,
        reply_sender,
        redelivered=updates_redelivered,
    )


async def on_callback(
    query: CallbackQuery,
    event_update: Update,
    conversation: Conversation,
    reply_sender: ReplySender,
    updates_redelivered: bool = False,
) -> None:
    if query.message is None:
        await _answer(query)
        return
    user = chat_ref(query.message.chat.id)
    incoming = Incoming(
        user=user,
        kind=Kind.BUTTON,
        payload=query.data,
        update_key=f"tg:{event_update.update_id}",
        language_hint=query.from_user.language_code,
    )
    # The press enters the conversation before anything else is awaited, so a message the
    # resident sends right after it cannot overtake it; the spinner stops after (milliseconds).
    await process(incoming, conversation, reply_sender, redelivered=updates_redelivered)
    await _answer(query)


async def _answer(query: CallbackQuery) -> None:
    """Stop the spinner on the pressed button (a failure only leaves it spinning a while)."""
    try:
        await query.answer()
    except Exception:
        logger.info("callback query %s could not be answered", query.id)
