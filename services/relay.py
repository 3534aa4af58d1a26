"""The operator relay: a resident's conversation with the operators, both ways, through the outbox.

A resident who asks for an operator gets a *relay session* (its id is the number staff see; the
phone is never shown). Their texts and photos are stored, then handed to the outbox addressed to
the session's place in the staff chat: a forum topic of that resident (``chat/thread``) or the
staff chat itself, where operators answer by replying. That place may need a Bot API call to
create (a forum topic), which cannot happen inside the resident's transaction, so a message
whose place is not known yet stays *pending* and ``services.relay_forwarder.RelayForwarder``
hands it over after the commit (and its ``sweep`` after a crash). Operators' answers go to the
resident's own channel through the outbox, so a Viber resident is answered in Viber. What is
said is composed by ``services.relay_texts``; this module holds the rules.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.identity import ChannelName, UserRef
from domain.messages import Reply, photo_shown_in
from domain.requests import Actor, Category, Request, RequestDraft
from domain.texts import Texts
from services.outbox import enqueue, outbox_key
from services.relay_texts import (
    DESCRIPTION_LIMIT,
    STAFF_LANGUAGE,
    RelayTexts,
    conversation_text,
    is_threaded,
)
from storage.base import Resident, StoreSession
from storage.relay import RelayDirection, RelaySession

__all__ = [
    "OUTBOX_KIND_RESIDENT",
    "OUTBOX_KIND_STAFF",
    "OperatorReply",
    "RelayClosed",
    "RelayError",
    "RelayNotFound",
    "RelayService",
    "Relayed",
    "RequestCreator",
]

logger = logging.getLogger(__name__)

# (session, resident id, now): told when an operator closes the resident's conversation.
ClosedListener = Callable[[StoreSession, int, datetime], Awaitable[None]]

OUTBOX_KIND_STAFF = "relay"  # storage.sqlite.relay finds reply targets by this kind
OUTBOX_KIND_RESIDENT = "relay_reply"


class RelayError(Exception):
    """Root of the relay's errors."""


class RelayNotFound(RelayError):
    """No relay session with that number."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        super().__init__(f"relay session {session_id} not found")


class RelayClosed(RelayError):
    """The conversation is closed: nothing more is relayed."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        super().__init__(f"relay session {session_id} is closed")


@dataclass(frozen=True, slots=True)
class Relayed:
    """What happened to a resident's message: stored, and handed to the outbox or still pending."""

    message_id: int
    first: bool
    forwarded: bool


@dataclass(frozen=True, slots=True)
class OperatorReply:
    """What happened to an operator's answer: queued for the resident or not (a redelivery,
    nothing left to send), and whether a photo had to be left out."""

    relay: RelaySession
    queued: bool
    photo_dropped: bool


class RequestCreator(Protocol):
    """Creates a request from a draft (``services.requests.RequestService.create``)."""

    async def __call__(
        self, session: StoreSession, resident: Resident, draft: RequestDraft
    ) -> Request: ...


class RelayService:
    """Relay rules over the stores of one transaction; enqueues, never sends."""

    def __init__(self, texts: Texts, *, staff_language: str = STAFF_LANGUAGE) -> None:
        self.texts = texts
        self.staff_language = staff_language
        self.say = RelayTexts(texts, staff_language=staff_language)
        self._closed_listeners: list[ClosedListener] = []

    def on_closed_by_operator(self, listener: ClosedListener) -> None:
        """``listener(session, resident_id, now)`` runs in the transaction that closes a
        conversation from the staff chat (the conversation feature takes the resident out of
        the relay step: this service knows no step names)."""
        self._closed_listeners.append(listener)

    # --- the resident's side -------------------------------------------------------------

    async def open(
        self, session: StoreSession, resident: Resident, *, now: datetime
    ) -> tuple[RelaySession, bool]:
        """The resident's open conversation, or a new one; True when created."""
        relay, created = await session.relay.open(resident.id, now=now)
        if created:
            logger.info("relay %s opened by resident %s", relay.id, resident.id)
        return relay, created

    async def alert(
        self,
        session: StoreSession,
        resident: Resident,
        *,
        note: str,
        text: str | None,
        photo_ref: str | None,
        now: datetime,
    ) -> tuple[RelaySession, Relayed]:
        """A message that must reach an operator now (a person in danger): opened or added to
        the resident's conversation, with ``note`` (the urgent mark) above their own words."""
        relay, _created = await self.open(session, resident, now=now)
        body = note if not text else f"{note}\n\n{text}"
        relayed = await self.from_resident(
            session, relay, text=body[:DESCRIPTION_LIMIT], photo_ref=photo_ref, now=now
        )
        logger.warning("relay %s: urgent message from resident %s", relay.id, resident.id)
        return relay, relayed

    async def own_open(self, session: StoreSession, resident: Resident) -> RelaySession | None:
        return await session.relay.open_for(resident.id)

    async def from_resident(
        self,
        session: StoreSession,
        relay: RelaySession,
        *,
        text: str | None,
        photo_ref: str | None,
        now: datetime,
    ) -> Relayed:
        """Store the resident's message; hand it to the outbox now if its place is known."""
        if not relay.is_open:
            raise RelayClosed(relay.id)
        first = not relay.header_sent and not await session.relay.pending(relay.id)
        message_id = await session.relay.add_message(
            relay.id, RelayDirection.IN, text=text, photo_ref=photo_ref, now=now
        )
        forwarded = False
        if relay.staff_chat is not None:
            forwarded = await self.forward(session, relay.id, relay.staff_chat, now=now) > 0
        return Relayed(message_id=message_id, first=first, forwarded=forwarded)

    # --- towards the operators -----------------------------------------------------------

    async def forward(
        self, session: StoreSession, relay_id: int, destination: UserRef, *, now: datetime
    ) -> int:
        """Hand the session's pending messages (and, the first time, its header with the
        operator buttons) to the outbox for ``destination``; return how many messages."""
        relay, resident = await self._locked(session, relay_id)
        pending = await session.relay.pending(relay_id)
        if not pending:
            return 0
        if relay.staff_chat is None:
            await session.relay.set_staff_chat(relay_id, destination)
        chat = relay.staff_chat or destination
        replies: list[Reply] = []
        if not relay.header_sent:
            replies.append(self.say.header(relay, resident, threaded=is_threaded(chat)))
            await session.relay.mark_header_sent(relay_id)
        replies.extend(
            self.say.staff_copy(relay, message, threaded=is_threaded(chat)) for message in pending
        )
        await enqueue(
            session,
            key=outbox_key("relay", relay_id, "in", pending[0].id),
            chat=chat,
            replies=replies,
            kind=OUTBOX_KIND_STAFF,
            now=now,
            # No resident_id: the row is addressed to the staff chat, and a 403 from there
            # must not mark the resident as having blocked the bot.
            urgent=True,
        )
        await session.relay.mark_forwarded([message.id for message in pending])
        logger.info("relay %s: %s message(s) queued for staff", relay_id, len(pending))
        return len(pending)

    # --- towards the resident ------------------------------------------------------------

    async def to_resident(
        self,
        session: StoreSession,
        relay_id: int,
        *,
        text: str | None,
        photo_ref: str | None,
        author: Actor,
        source_key: str,
        now: datetime,
        photo_channel: ChannelName = ChannelName.TELEGRAM,
    ) -> OperatorReply:
        """Store an operator's answer and queue it to the resident's own channel.

        ``source_key`` identifies the staff message (chat and message id), so a redelivered
        update queues nothing twice. A photo is a reference given by ``photo_channel`` (the staff
        side's; the default is the one staff chats live in today): one the resident's channel
        cannot show (``photo_shown_in``: a Telegram file_id in Viber) is dropped and only the
        caption goes. Raises ``RelayNotFound`` / ``RelayClosed``.
        """
        relay, resident = await self._locked(session, relay_id)
        if not relay.is_open:
            raise RelayClosed(relay_id)
        photo_dropped = photo_ref is not None and not photo_shown_in(
            photo_ref, taken_in=photo_channel, shown_in=resident.user.channel
        )
        if photo_dropped:
            photo_ref = None
        text = text.strip() if text and text.strip() else None
        if text is None and photo_ref is None:
            return OperatorReply(relay, queued=False, photo_dropped=photo_dropped)
        language = resident.language
        queued = await enqueue(
            session,
            key=outbox_key("relay", relay_id, "out", source_key),
            chat=resident.user,
            replies=[self.say.operator_answer(language, relay_id, text=text, photo_ref=photo_ref)],
            kind=OUTBOX_KIND_RESIDENT,
            now=now,
            resident_id=resident.id,
            urgent=True,
        )
        if queued:
            await session.relay.add_message(
                relay_id,
                RelayDirection.OUT,
                text=text,
                photo_ref=photo_ref,
                author=author.id,
                now=now,
                forwarded=True,
            )
        return OperatorReply(relay, queued=queued, photo_dropped=photo_dropped)

    # --- closing -------------------------------------------------------------------------

    async def close_by_resident(
        self, session: StoreSession, resident: Resident, relay_id: int, *, now: datetime
    ) -> bool:
        """The resident ends their own conversation; False when it is not theirs or not open.

        The caller resets the resident's conversation state (the engine saves it).
        """
        relay = await session.relay.get(relay_id)
        if relay is None or relay.resident_id != resident.id:
            return False
        if not await session.relay.close(relay_id, by="resident", outcome="resident", now=now):
            return False
        await self._tell_staff(
            session, relay, self.say.staff("relay_staff_closed_by_resident"), now
        )
        logger.info("relay %s closed by the resident", relay_id)
        return True

    async def close_by_operator(
        self,
        session: StoreSession,
        relay_id: int,
        *,
        actor: Actor,
        now: datetime,
        outcome: str = "operator",
        resident_text_key: str = "relay_ended_by_operator",
        **values: object,
    ) -> RelaySession:
        """Close the conversation from the staff chat and tell the resident.

        Raises ``RelayNotFound`` / ``RelayClosed`` (a second press changes nothing).
        """
        relay, resident = await self._locked(session, relay_id)
        closed = await session.relay.close(
            relay_id, by=f"operator:{actor.id}", outcome=outcome, now=now
        )
        if not closed:
            raise RelayClosed(relay_id)
        for listener in self._closed_listeners:
            await listener(session, resident.id, now)
        await enqueue(
            session,
            key=outbox_key("relay", relay_id, "closed", "resident"),
            chat=resident.user,
            replies=[self.say.closed_for_resident(resident.language, resident_text_key, **values)],
            kind=OUTBOX_KIND_RESIDENT,
            now=now,
            resident_id=resident.id,
            urgent=True,
        )
        who = actor.name or actor.id
        await self._tell_staff(
            session, relay, self.say.staff("relay_staff_closed_by_operator", operator=who), now
        )
        logger.info("relay %s closed by operator %s", relay_id, actor.id)
        closed_relay = await session.relay.get(relay_id)
        assert closed_relay is not None
        return closed_relay

    async def to_request(
        self,
        session: StoreSession,
        relay_id: int,
        *,
        actor: Actor,
        create: RequestCreator,
        now: datetime,
    ) -> Request:
        """Turn the conversation into a request: category "other", the resident's messages as
        the description, the resident's photos attached; then close the conversation and tell
        the resident the number. Raises ``RelayNotFound`` / ``RelayClosed``.

        Chosen over restarting the intake for the resident: it needs nothing more from a
        resident who has already explained everything, and the operator refines the card.
        """
        relay, resident = await self._locked(session, relay_id)
        if not relay.is_open:
            raise RelayClosed(relay_id)
        messages = [
            m for m in await session.relay.messages(relay_id) if m.direction is RelayDirection.IN
        ]
        draft = RequestDraft(
            category=Category.OTHER,
            description=conversation_text(messages, empty=self.say.staff("relay_staff_no_text")),
            photos=tuple(m.photo_ref for m in messages if m.photo_ref)[:10],
        )
        request = await create(session, resident, draft)
        await session.relay.set_request(relay_id, request.id)
        await self.close_by_operator(
            session,
            relay_id,
            actor=actor,
            now=now,
            outcome="request",
            resident_text_key="relay_request_created",
            number=request.number,
        )
        return request

    async def _locked(self, session: StoreSession, relay_id: int) -> tuple[RelaySession, Resident]:
        """The conversation and its resident, read again under the resident's lock
        (``StoreSession.lock_resident``). Everything that changes a conversation holds that
        lock: the resident's own messages (the engine takes it), forwarding, operators'
        answers, closing, the request made from it, the resident's erasure. So two instances
        never forward the same pending messages twice or lose one between them, an answer is
        never queued after the conversation was closed or erased, and a request made from a
        conversation cannot escape an erasure running at the same time."""
        relay = await session.relay.get(relay_id)
        resident = None if relay is None else await session.residents.get_by_id(relay.resident_id)
        if resident is None:
            raise RelayNotFound(relay_id)
        await session.lock_resident(resident.user)
        relay = await session.relay.get(relay_id)
        if relay is None:
            raise RelayNotFound(relay_id)
        return relay, resident

    async def _tell_staff(
        self, session: StoreSession, relay: RelaySession, text: str, now: datetime
    ) -> None:
        if relay.staff_chat is None:
            return  # nothing reached the staff chat yet; there is no one to tell
        await enqueue(
            session,
            key=outbox_key("relay", relay.id, "closed", "staff"),
            chat=relay.staff_chat,
            replies=[self.say.staff_note(relay, text)],
            kind=OUTBOX_KIND_STAFF,
            now=now,
            urgent=True,
        )
