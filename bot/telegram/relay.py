"""The staff side of the operator relay in Telegram: forum topics, operators' answers, buttons.

When the staff chat is a forum (``getChat`` -> ``is_forum``), each resident gets one topic
(``createForumTopic``, named with the conversation number, never the phone) and every message an
operator writes in it goes to the resident. Otherwise the resident's messages are posted in the
staff chat and an operator answers by replying to one of them. Text and photos go both ways;
everything towards the resident goes through the outbox (``services.relay``).

Topic creation is guarded twice, so messages arriving at once make one topic: a per-resident
``asyncio.Lock`` in this process, and the ``relay_topics`` primary key across processes (the
loser deletes the topic it created and uses the winner's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Router
from aiogram.enums import ContentType
from aiogram.exceptions import AiogramError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from bot.telegram.answers import answer_query, reply_note
from bot.telegram.auth import ANONYMOUS_ADMIN_ID, StaffAuthorizer
from bot.telegram.channel import chat_ref
from bot.telegram.filters import InChats, PayloadAction
from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.locks import KeyedLocks
from domain.requests import Actor
from services.relay import RelayClosed, RelayError, RelayNotFound, RelayService
from services.relay_forwarder import RelayForwarder
from services.relay_texts import ACTION_CLOSE, ACTION_TO_REQUEST, channel_title
from services.requests import RequestService
from storage.base import Resident, Storage
from storage.relay import RelaySession

logger = logging.getLogger(__name__)

# What a person writes (anything else in a staff chat is a service message).
_PERSON_CONTENT = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.STICKER,
        ContentType.VOICE,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.DOCUMENT,
        ContentType.ANIMATION,
        ContentType.AUDIO,
        ContentType.LOCATION,
        ContentType.CONTACT,
    }
)
FORUM_TTL = 300.0  # how long "is the staff chat a forum?" is believed
SWEEP_INTERVAL = 30.0


class TelegramRelayDesk:
    """The ``RelayDesk`` of Telegram: the resident's forum topic, or the staff chat itself."""

    def __init__(
        self,
        bot: Bot,
        *,
        database: Storage,
        clock: Clock,
        service: RelayService,
        staff_chat_id: int | None,
        forum_ttl: float = FORUM_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.database = database
        self.clock = clock
        self.service = service
        self.staff_chat_id = staff_chat_id
        self.forum_ttl = forum_ttl
        self._monotonic = monotonic
        # Per instance on purpose (issue 14): "is the staff chat a forum?" is Telegram's fact,
        # believed for ``forum_ttl``. The lock only spares this process a second topic for
        # one resident; across instances ``add_topic`` in the database decides the winner
        # and the loser's topic is deleted (``topic_for``).
        self._forum: tuple[float, bool] | None = None
        self._locks: KeyedLocks[int] = KeyedLocks()

    async def destination(self, relay: RelaySession, resident: Resident) -> UserRef | None:
        if self.staff_chat_id is None:
            return None
        chat = self.staff_chat_id
        if await self.is_forum():
            thread = await self.topic_for(relay, resident)
            if thread is not None:
                return chat_ref(chat, thread)
        return chat_ref(chat)

    async def is_forum(self) -> bool:
        """Asked of Telegram and believed for ``forum_ttl`` (a group can become a forum)."""
        assert self.staff_chat_id is not None
        now = self._monotonic()
        if self._forum is not None and self._forum[0] > now:
            return self._forum[1]
        chat = await self.bot.get_chat(self.staff_chat_id)
        forum = bool(chat.is_forum)
        self._forum = (now + self.forum_ttl, forum)
        return forum

    async def topic_for(self, relay: RelaySession, resident: Resident) -> int | None:
        """The resident's topic, created once; None when Telegram refuses (no rights)."""
        assert self.staff_chat_id is not None
        chat_key = str(self.staff_chat_id)
        async with self._locks.hold(resident.id):
            async with self.database.transaction() as session:
                existing = await session.relay.topic(chat_key, resident.id)
            if existing is not None:
                return existing
            name = self.service.texts.get(
                self.service.staff_language,
                "relay_staff_topic_name",
                number=relay.id,
                channel=channel_title(
                    self.service.texts, self.service.staff_language, resident.user.channel
                ),
            )
            try:
                topic = await self.bot.create_forum_topic(self.staff_chat_id, name=name[:128])
            except AiogramError as error:
                logger.warning(
                    "relay %s: no forum topic (%s); posting in the chat",
                    relay.id,
                    type(error).__name__,
                )
                return None
            thread = topic.message_thread_id
            async with self.database.transaction() as session:
                winner = await session.relay.add_topic(
                    chat_key, resident.id, thread, now=self.clock.now()
                )
            if winner != thread:
                # Another process won the race: keep one topic per resident.
                logger.info("relay %s: duplicate topic %s removed", relay.id, thread)
                with contextlib.suppress(AiogramError):
                    await self.bot.delete_forum_topic(self.staff_chat_id, thread)
            else:
                logger.info("relay %s: topic %s created", relay.id, thread)
            return winner


async def sweep_forever(forwarder: RelayForwarder, *, interval: float = SWEEP_INTERVAL) -> None:
    """Forward what an after-commit hook could not (a crash, a platform error), forever."""
    while True:
        try:
            count = await forwarder.sweep()
            if count:
                logger.info("relay sweep forwarded %s message(s)", count)
        except Exception:
            logger.exception("relay sweep failed")
        await asyncio.sleep(interval)


# --- the router --------------------------------------------------------------------------


def create_router(staff_chat_id: int) -> Router:
    """A fresh router for the staff chat's relay (include it after the staff-card router)."""
    router = Router(name=__name__)
    router.message.filter(InChats([staff_chat_id]))
    router.message.register(on_operator_message, RelayTarget())
    router.callback_query.filter(InChats([staff_chat_id]))
    router.callback_query.register(on_close, PayloadAction(ACTION_CLOSE, number="relay_id"))
    router.callback_query.register(
        on_to_request, PayloadAction(ACTION_TO_REQUEST, number="relay_id")
    )
    return router


class RelayTarget(Filter):
    """Matches a staff-chat message meant for a resident: written in a resident's topic, or a
    reply to a relayed message. Gives ``relay_id`` (None when the resident has no conversation
    open) and ``relay_number`` (for telling the operator)."""

    async def __call__(self, message: Message, database: Storage) -> bool | dict[str, Any]:
        if message.text is not None and message.text.startswith("/"):
            return False  # commands are not for residents
        if message.from_user is not None and message.from_user.is_bot and not _as_group(message):
            return False
        if message.content_type not in _PERSON_CONTENT:
            return False  # service messages (a topic edited, someone joined) are not for anyone
        in_topic = bool(message.is_topic_message) and message.message_thread_id is not None
        reply = message.reply_to_message
        replying = reply is not None and reply.forum_topic_created is None
        if not in_topic and not replying:
            return False
        chat_key = str(message.chat.id)
        async with database.transaction() as session:
            if in_topic and message.message_thread_id is not None:
                resident_id = await session.relay.resident_by_topic(
                    chat_key, message.message_thread_id
                )
                if resident_id is not None:
                    relay = await session.relay.open_for(resident_id)
                    latest = relay or await session.relay.latest_for(resident_id)
                    return {
                        "relay_id": relay.id if relay else None,
                        "relay_number": latest.id if latest else 0,
                    }
            if replying and reply is not None:
                relay_id = await session.relay.session_by_staff_message(
                    chat_ref(message.chat.id), str(reply.message_id)
                )
                if relay_id is not None:
                    return {"relay_id": relay_id, "relay_number": relay_id}
        return False


def _as_group(message: Message) -> bool:
    """An anonymous admin posting as the group itself (only admins can)."""
    return (
        message.sender_chat is not None
        and message.sender_chat.id == message.chat.id
        and message.from_user is not None
        and message.from_user.id == ANONYMOUS_ADMIN_ID
    )


async def _authorized(message: Message, staff_auth: StaffAuthorizer) -> bool:
    if _as_group(message):
        return True
    return message.from_user is not None and await staff_auth.is_staff(message.from_user.id)


def _actor(message: Message) -> Actor:
    user = message.from_user
    if user is None or _as_group(message):
        return Actor.operator(str(message.chat.id), "admin")
    return Actor.operator(user.id, user.full_name)


async def on_operator_message(
    message: Message,
    *,
    relay_id: int | None,
    relay_number: int,
    database: Storage,
    clock: Clock,
    relay_service: RelayService,
    staff_auth: StaffAuthorizer,
) -> None:
    """An operator's text or photo for a resident: queued to the resident's channel."""
    if not await _authorized(message, staff_auth):
        logger.info("relay: message from a non-staff user in chat %s ignored", message.chat.id)
        return
    if message.text is not None:
        text: str | None = message.text
        photo_ref: str | None = None
    elif message.photo:
        text, photo_ref = message.caption, message.photo[-1].file_id
    else:
        await _tell(message, relay_service, "relay_staff_media_unsupported")
        return
    if relay_id is None:
        await _tell(message, relay_service, "relay_staff_closed_cannot_send", number=relay_number)
        return
    try:
        async with database.transaction() as session:
            outcome = await relay_service.to_resident(
                session,
                relay_id,
                text=text,
                photo_ref=photo_ref,
                author=_actor(message),
                source_key=f"{message.chat.id}:{message.message_id}",
                now=clock.now(),
                photo_channel=ChannelName.TELEGRAM,  # a file_id of this bot
            )
    except RelayClosed:
        await _tell(message, relay_service, "relay_staff_closed_cannot_send", number=relay_id)
        return
    except RelayNotFound:
        logger.warning("relay %s vanished before an operator's answer", relay_id)
        return
    logger.info("relay %s: operator message %s queued", relay_id, message.message_id)
    if outcome.photo_dropped:
        await _tell(message, relay_service, "relay_staff_viber_no_photo")


async def _tell(message: Message, relay_service: RelayService, key: str, **values: object) -> None:
    """A short note to the operator, in the same thread, straight away (not a resident's
    message, so not through the outbox)."""
    await reply_note(message, relay_service.texts.get(relay_service.staff_language, key, **values))


async def _refuse(query: CallbackQuery, relay_service: RelayService) -> None:
    text = relay_service.texts.get(relay_service.staff_language, "staff_not_allowed")
    await answer_query(query, text, alert=True)


def _query_actor(query: CallbackQuery) -> Actor:
    return Actor.operator(query.from_user.id, query.from_user.full_name)


async def _drop_buttons(query: CallbackQuery) -> None:
    """The header's buttons are spent once the conversation is closed."""
    if isinstance(query.message, Message):
        with contextlib.suppress(AiogramError):
            await query.message.edit_reply_markup(reply_markup=None)


async def on_close(
    query: CallbackQuery,
    *,
    relay_id: int,
    database: Storage,
    clock: Clock,
    relay_service: RelayService,
    staff_auth: StaffAuthorizer,
) -> None:
    """ "Закрити розмову": close it, tell the resident (outbox), then edit the header."""
    if not await staff_auth.is_staff(query.from_user.id):
        await _refuse(query, relay_service)
        return
    staff = relay_service.staff_language
    try:
        async with database.transaction() as session:
            await relay_service.close_by_operator(
                session, relay_id, actor=_query_actor(query), now=clock.now()
            )
    except RelayError:
        text = relay_service.texts.get(staff, "relay_staff_already_closed")
        await answer_query(query, text, alert=True)
        await _drop_buttons(query)
        return
    await _drop_buttons(query)
    await answer_query(query, relay_service.texts.get(staff, "relay_staff_closed_ok"))


async def on_to_request(
    query: CallbackQuery,
    *,
    relay_id: int,
    database: Storage,
    clock: Clock,
    relay_service: RelayService,
    staff_auth: StaffAuthorizer,
    request_service: RequestService,
) -> None:
    """ "Створити заявку": a request from the conversation, the resident told its number."""
    if not await staff_auth.is_staff(query.from_user.id):
        await _refuse(query, relay_service)
        return
    staff = relay_service.staff_language
    try:
        async with database.transaction() as session:
            request = await relay_service.to_request(
                session,
                relay_id,
                actor=_query_actor(query),
                create=request_service.create,
                now=clock.now(),
            )
    except RelayError:
        text = relay_service.texts.get(staff, "relay_staff_already_closed")
        await answer_query(query, text, alert=True)
        await _drop_buttons(query)
        return
    except Exception:
        logger.exception("relay %s: request creation failed", relay_id)
        text = relay_service.texts.get(staff, "relay_staff_request_failed")
        await answer_query(query, text, alert=True)
        return
    logger.info("relay %s turned into request %s", relay_id, request.id)
    await _drop_buttons(query)
    text = relay_service.texts.get(staff, "relay_staff_request_created", number=request.number)
    await answer_query(query, text, alert=True)
