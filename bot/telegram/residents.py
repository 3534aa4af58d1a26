"""aiogram callbacks for residents' private chats: convert, run the conversation, send replies."""

from __future__ import annotations

import logging
from functools import partial

from aiogram import Router
from aiogram.types import CallbackQuery, Message, Update

from bot.telegram.channel import TelegramChannel
from bot.telegram.filters import PrivateChat
from handlers.channel import DeliveryError
from handlers.conversation import Conversation
from handlers.messages import ChannelName, Contact, Incoming, Kind, Location, Photo, UserRef

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
    user = UserRef(ChannelName.TELEGRAM, str(message.chat.id))
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


async def on_message(
    message: Message,
    event_update: Update,
    conversation: Conversation,
    telegram_channel: TelegramChannel,
) -> None:
    incoming = message_to_incoming(message, event_update.update_id)
    replies = await conversation.handle(incoming)
    if replies:
        try:
            await telegram_channel.send(incoming.user, replies)
        except DeliveryError as error:
            logger.warning(
                "reply to update %s not delivered: %s", event_update.update_id, type(error).__name__
            )


async def on_callback(
    query: CallbackQuery,
    event_update: Update,
    conversation: Conversation,
    telegram_channel: TelegramChannel,
) -> None:
    # Answer first: the spinner on the button stops whatever happens next.
    try:
        await query.answer()
    except Exception:
        logger.info("callback query %s could not be answered", query.id)
    if query.message is None:
        return
    user = UserRef(ChannelName.TELEGRAM, str(query.message.chat.id))
    incoming = Incoming(
        user=user,
        kind=Kind.BUTTON,
        payload=query.data,
        update_key=f"tg:{event_update.update_id}",
        language_hint=query.from_user.language_code,
    )
    replies = await conversation.handle(incoming)
    if replies:
        try:
            await telegram_channel.send(user, replies)
        except DeliveryError as error:
            logger.warning(
                "reply to update %s not delivered: %s", event_update.update_id, type(error).__name__
            )
