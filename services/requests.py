"""The request service: files, routes, changes and reports requests in the caller's transaction.

Public API. Every method takes the open ``StoreSession`` (``ctx.session`` in a conversation step,
``storage.transaction()`` elsewhere); nothing commits or sends by itself: what people are told
goes to the outbox in the same transaction, so it leaves only if the change commits.

``RequestService(routing, texts, clock, staff_chat, *, observers=(), metrics=NO_METRICS)``
    ``routing``: ``services.routing.Routing`` (``load_routing(path)``); ``texts``:
    ``domain.texts.Texts``; ``clock``: ``domain.clock.Clock`` (all times and deadlines);
    ``staff_chat``: ``UserRef(ChannelName.TELEGRAM, str(STAFF_CHAT_ID))`` or None (no cards).
    Attributes ``routing``, ``texts``, ``clock``, ``staff_chat`` are public. ``metrics``
    (``domain.metrics.Metrics``) counts requests created (by category) and closed (done or
    rejected) once their transaction commits.
``await create(session, resident, draft) -> Request``
    ``resident``: ``storage.base.Resident``; ``draft``: ``domain.requests.RequestDraft``
    (description 1-4000 chars, address <= 300, <= 10 photos, phone any Ukrainian form or None;
    else ``InvalidDraft``/``InvalidPhone``). Routes by category and district, deadlines from
    the clock, history CREATED, then the card (kind ``"card"``, urgent) to the staff chat (key
    ``req:<id>:card:staff``) and to the executor's own chat if configured (key
    ``req:<id>:card:exec:<executor id>``). The outbox body is [card, *extra photos].
``await change_status(session, request_id, new_status, actor, note=None) -> Request``
    ``RequestNotFound``; ``InvalidTransition`` (see ``domain.requests.TRANSITIONS``);
    ``MissingNote`` for rejected (reason), needs_info (question), reopened (reason). Sets
    ``acknowledged_at`` on the first staff status and ``done_at`` on done; history STATUS
    (note = reason / question / comment); the resident's update in their language (kind
    ``"status"``, not urgent, key ``req:<id>:status:<history id>``, text from
    ``status_message``) with "Відповісти" (``v1:rq:ans:<id>``) for a question (then the
    observers: the conversation's ``AwaitAnswer`` makes an idle resident's next message the
    answer).
    ``new_status=Status.REOPENED`` reopens (below).
``await assign(session, request_id, executor_id, actor) -> Request``
    ``UnknownExecutor``; no-op for the current executor; history ASSIGNED (note = executor id);
    the card to the new executor's chat if it has one (key ``req:<id>:card:exec:<ex>:<hist>``).
``await reopen(session, request_id, actor, reason) -> Request``
    ``change_status`` to reopened: done/rejected -> reopened, fresh ``ack_due``/``resolve_due``
    from now by the request's class, ``acknowledged_at``/``done_at`` cleared; the resident is
    told; a fresh card goes to the staff chat (key ``req:<id>:card:staff:<history id>``).
``await answer_info(session, request_id, resident, text) -> StatusChange``
    The resident's answer while the request is needs_info (``RequestNotFound`` if not theirs,
    ``NotAwaitingAnswer`` otherwise; status stays needs_info, staff decide): history ANSWER
    (note = answer), forwarded with the question and the status buttons to the staff chat and
    the executor's chat (kind ``"answer"``, urgent, key ``req:<id>:answer:<hist>:staff|exec``).
``await get(session, request_id) -> Request | None``; ``await history(session, request_id)
    -> list[StatusChange]`` (oldest first).
``await get_for_resident(session, resident_id, number) -> Request | None``
    ``number``: ``"1520-000123"``, ``"123"``... or an int id; None when missing *or* someone
    else's (indistinguishable). ``await list_for_resident(session, resident_id, limit=10)``.
``await find(session, query) -> list[Request]``
    For staff: a phone in any usual Ukrainian form (newest first), else a request number.
``render_card(request, history, language="uk", *, shown_in) -> Reply``
    The staff card: every field as plain text, ``Reply.location``, first photo as
    ``Reply.photo`` (Telegram file ids and http(s) URLs only), buttons for the allowed
    transitions ``v1:st:<id>:<status value>`` and ``v1:asg:<id>`` (see ``services.cards``,
    which also has ``card_buttons``, ``history_line``, ``format_local``, ``extra_photos``).
``status_message(request, change, language) -> Reply``
    What the resident is told about ``change`` (``services.resident_texts``).
``await record_escalation(session, request_id, kind)``, ``await record_followup(session,
    request_id, outcome, actor)``, ``await record_rating(session, request_id, rating, actor)``
    History entries ESCALATED (note ``ack``/``resolve``, by the deadline job), FOLLOWUP (note
    ``yes``/``partly``/``no``) and RATING (note ``1``..``5``) from the follow-up: the status
    stays; the cards show them.
``await card_shown(session, request_id, chat, message_id, *, caption)``
    A message a staff button turned into the card: a copy like the delivered cards.
``add_observer(observer)``
    ``RequestObserver.request_changed(session, request, change)`` is awaited inside the same
    transaction after every history entry (card edits, follow-ups, escalations). After them
    all, always, ``services.card_copies.CardCopies``: every change queues an edit of every
    card message already delivered (staff chat, executor chats, the console's pane).

Errors are ``domain.requests.RequestError`` subclasses (this service's own, and the limits of
a draft, in ``services.request_limits``). The outbox rows are written by
``services.request_announcements.RequestAnnouncer`` (attribute ``announce``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Protocol

from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from domain.metrics import NO_METRICS, Metrics
from domain.requests import (
    Actor,
    EventKind,
    InvalidPhone,
    Request,
    RequestDraft,
    RequestNotFound,
    Status,
    StatusChange,
    check_transition,
    normalize_phone,
    parse_number,
)
from domain.texts import Texts
from services.card_copies import CardCopies
from services.outbox import outbox_key
from services.request_announcements import RequestAnnouncer
from services.request_limits import (
    MAX_ANSWER,
    InvalidDraft,
    NotAwaitingAnswer,
    UnknownExecutor,
    checked_draft,
    clean_note,
)
from services.routing import Executor, Routing, ServiceClass
from storage.base import Resident, StoreSession
from storage.requests import NewRequest, NewStatusChange

logger = logging.getLogger(__name__)

__all__ = ["RequestObserver", "RequestService", "lock_request"]

_CLOSING = frozenset({Status.DONE, Status.REJECTED})
_ACKNOWLEDGING = frozenset(
    {Status.ACCEPTED, Status.IN_PROGRESS, Status.NEEDS_INFO, Status.DONE, Status.REJECTED}
)


class RequestObserver(Protocol):
    """Something that reacts to every change of a request inside the same transaction."""

    async def request_changed(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None: ...


class RequestService:
    """Files, routes and changes requests; tells people through the outbox (see module doc)."""

    def __init__(
        self,
        routing: Routing,
        texts: Texts,
        clock: Clock,
        staff_chat: UserRef | None,
        *,
        observers: Sequence[RequestObserver] = (),
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.routing = routing
        self.metrics = metrics
        self.texts = texts
        self.clock = clock
        self.staff_chat = staff_chat
        self.announce = RequestAnnouncer(routing, texts, clock, staff_chat)
        self._observers: list[RequestObserver] = list(observers)
        # Every copy of a card is edited after every change, whoever makes it: after the other
        # observers, so the edit shows what they did too (an erasure done on closure).
        self._cards = CardCopies(self.announce)

    def add_observer(self, observer: RequestObserver) -> None:
        self._observers.append(observer)

    # --- reading ---------------------------------------------------------------------------

    async def get(self, session: StoreSession, request_id: int) -> Request | None:
        return await session.requests.get(request_id)

    async def get_for_resident(
        self, session: StoreSession, resident_id: int, number: str | int
    ) -> Request | None:
        """The resident's own request by number (``1520-000123``, ``123``...) or id; None when
        it does not exist *or* belongs to someone else — the caller cannot tell which."""
        request_id = number if isinstance(number, int) else parse_number(number)
        if request_id is None or request_id <= 0:
            return None
        return await session.requests.get_for_resident(resident_id, request_id)

    async def list_for_resident(
        self, session: StoreSession, resident_id: int, limit: int = 10
    ) -> list[Request]:
        return await session.requests.list_for_resident(resident_id, limit=limit)

    async def find(self, session: StoreSession, query: str) -> list[Request]:
        """For staff: requests by phone (any usual Ukrainian form, or an international number
        with its country code, as the form accepts) or by number; newest first."""
        text = query.strip()
        if not text:
            return []
        try:
            phone = normalize_phone(text, international=True)
        except InvalidPhone:
            phone = None
        if phone is not None:
            return await session.requests.find_by_phone(phone)
        request_id = parse_number(text)
        if request_id is None:
            return []
        found = await session.requests.get(request_id)
        return [found] if found else []

    async def history(self, session: StoreSession, request_id: int) -> list[StatusChange]:
        return await session.requests.history(request_id)

    def executor(self, executor_id: str) -> Executor:
        found = self.routing.executors.get(executor_id)
        if found is None:
            raise UnknownExecutor(executor_id)
        return found

    def render_card(
        self,
        request: Request,
        history: Sequence[StatusChange],
        language: str = "uk",
        *,
        shown_in: ChannelName,
    ) -> Reply:
        """The staff card for a chat of the ``shown_in`` channel (which photos it can show)."""
        return self.announce.render_card(request, history, language, shown_in=shown_in)

    def status_message(self, request: Request, change: StatusChange, language: str) -> Reply:
        """What the resident is told about ``change`` (their language, plain text)."""
        return self.announce.status_message(request, change, language)

    # --- changing --------------------------------------------------------------------------

    async def create(
        self, session: StoreSession, resident: Resident, draft: RequestDraft
    ) -> Request:
        """File ``draft`` for ``resident``; see the module docstring."""
        draft = checked_draft(draft)
        now = self.clock.now()
        route = self.routing.route(draft.category, draft.district, at=now, tz=self.clock.tz)
        ack_due, resolve_due = route.deadlines(now)
        request = await session.requests.create(
            NewRequest(
                resident_id=resident.id,
                resident=resident.user,
                category=draft.category,
                description=draft.description,
                executor_id=route.executor.id,
                service_class=route.service_class.id,
                urgent=route.urgent,
                ack_due=ack_due,
                resolve_due=resolve_due,
                created_at=now,
                district=draft.district,
                address=draft.address,
                latitude=draft.latitude,
                longitude=draft.longitude,
                photos=draft.photos,
                phone=draft.phone,
            )
        )
        change = await session.requests.add_history(
            NewStatusChange(
                request_id=request.id,
                event=EventKind.CREATED,
                actor=Actor.resident(resident.id),
                at=now,
                from_status=None,
                to_status=Status.NEW,
            )
        )
        await self.announce.card_to_staff(
            session, request, [change], key=outbox_key("req", request.id, "card", "staff")
        )
        await self.announce.card_to_executor(
            session,
            request,
            [change],
            route.executor,
            key=outbox_key("req", request.id, "card", "exec", route.executor.id),
        )
        logger.info(
            "request %s created (category %s, executor %s)",
            request.id,
            request.category.value,
            request.executor_id,
            extra={"request": request.number},
        )
        session.after_commit(partial(self.metrics.request_created, request.category.value))
        await self._notify_observers(session, request, change)
        return request

    async def change_status(
        self,
        session: StoreSession,
        request_id: int,
        new_status: Status,
        actor: Actor,
        note: str | None = None,
    ) -> Request:
        """Move the request to ``new_status`` (reopened included); see the module docstring."""
        request = await self._require(session, request_id)
        note = clean_note(note)
        check_transition(request.status, new_status, note)
        now = self.clock.now()
        if new_status is Status.REOPENED:
            updated = self._reopened(request, now)
        else:
            updated = replace(
                request,
                status=new_status,
                updated_at=now,
                acknowledged_at=request.acknowledged_at
                or (now if new_status in _ACKNOWLEDGING else None),
                done_at=now if new_status is Status.DONE else request.done_at,
            )
        await session.requests.update(updated)
        change = await self._record(
            session,
            updated,
            event=EventKind.STATUS,
            actor=actor,
            from_status=request.status,
            note=note,
        )
        await self.announce.status_to_resident(session, updated, change)
        if new_status is Status.REOPENED:
            # A fresh card: the old one may be far up the staff chat by now.
            history = await session.requests.history(updated.id)
            await self.announce.card_to_staff(
                session,
                updated,
                history,
                key=outbox_key("req", updated.id, "card", "staff", change.id),
            )
            logger.info("request %s reopened", request.id, extra={"request": request.number})
        else:
            logger.info(
                "request %s: %s -> %s",
                request.id,
                request.status.value,
                new_status.value,
                extra={"request": request.number},
            )
        if new_status in _CLOSING:
            session.after_commit(partial(self.metrics.request_closed, new_status.value))
        await self._notify_observers(session, updated, change)
        return updated

    async def reopen(
        self, session: StoreSession, request_id: int, actor: Actor, reason: str
    ) -> Request:
        """Reopen a done or rejected request with fresh deadlines; see the module docstring."""
        return await self.change_status(session, request_id, Status.REOPENED, actor, reason)

    async def assign(
        self, session: StoreSession, request_id: int, executor_id: str, actor: Actor
    ) -> Request:
        """Give the request to another executor; see the module docstring."""
        executor = self.executor(executor_id)
        request = await self._require(session, request_id)
        if executor.id == request.executor_id:
            return request
        updated = replace(request, executor_id=executor.id, updated_at=self.clock.now())
        await session.requests.update(updated)
        change = await self._record(
            session,
            updated,
            event=EventKind.ASSIGNED,
            actor=actor,
            from_status=request.status,
            note=executor.id,
        )
        history = await session.requests.history(updated.id)
        await self.announce.card_to_executor(
            session,
            updated,
            history,
            executor,
            key=outbox_key("req", updated.id, "card", "exec", executor.id, change.id),
        )
        logger.info(
            "request %s assigned to %s", request.id, executor.id, extra={"request": request.number}
        )
        await self._notify_observers(session, updated, change)
        return updated

    async def answer_info(
        self, session: StoreSession, request_id: int, resident: Resident, text: str
    ) -> StatusChange:
        """Record the resident's answer and forward it to staff; see the module docstring."""
        request = await session.requests.get_for_resident(resident.id, request_id)
        if request is None:
            raise RequestNotFound(request_id)
        if request.status is not Status.NEEDS_INFO:
            raise NotAwaitingAnswer(f"request {request_id} is {request.status.value}")
        answer = text.strip()
        if not answer:
            raise InvalidDraft("an empty answer")
        answer = answer[:MAX_ANSWER]
        change = await self._record(
            session,
            request,
            event=EventKind.ANSWER,
            actor=Actor.resident(resident.id),
            from_status=Status.NEEDS_INFO,
            note=answer,
        )
        history = await session.requests.history(request.id)
        question = next(
            (
                entry.note
                for entry in reversed(history)
                if entry.event is EventKind.STATUS and entry.to_status is Status.NEEDS_INFO
            ),
            None,
        )
        await self.announce.answer_to_staff(
            session, request, change, question=question, answer=answer
        )
        logger.info("request %s: resident answered", request.id, extra={"request": request.number})
        await self._notify_observers(session, request, change)
        return change

    async def record_escalation(
        self, session: StoreSession, request_id: int, kind: str
    ) -> StatusChange:
        """The deadline job escalated a missed deadline (``kind``: ``ack`` or ``resolve``)."""
        return await self._note_event(
            session, request_id, EventKind.ESCALATED, Actor.system("deadlines"), kind
        )

    async def record_followup(
        self, session: StoreSession, request_id: int, outcome: str, actor: Actor
    ) -> StatusChange:
        """The resident's answer to "was it really done?" (``yes``, ``partly``, ``no``)."""
        return await self._note_event(session, request_id, EventKind.FOLLOWUP, actor, outcome)

    async def record_rating(
        self, session: StoreSession, request_id: int, rating: int, actor: Actor
    ) -> StatusChange:
        """The resident's rating of the work, 1 to 5."""
        return await self._note_event(session, request_id, EventKind.RATING, actor, str(rating))

    async def card_shown(
        self,
        session: StoreSession,
        request_id: int,
        chat: UserRef,
        message_id: str,
        *,
        caption: bool,
    ) -> None:
        """A message that now shows the request's card outside the outbox (a staff button
        turned a forwarded answer or an escalation into the card): edited after later changes
        like every other copy (``services.card_copies``)."""
        await session.card_copies.add(
            request_id, chat, message_id, caption=caption, now=self.clock.now()
        )

    # --- helpers ---------------------------------------------------------------------------

    async def _note_event(
        self, session: StoreSession, request_id: int, event: EventKind, actor: Actor, note: str
    ) -> StatusChange:
        """A history entry that leaves the status as it is; the observers are told."""
        request = await self._require(session, request_id)
        change = await self._record(
            session, request, event=event, actor=actor, from_status=request.status, note=note
        )
        logger.info("request %s: %s", request.id, event.value, extra={"request": request.number})
        await self._notify_observers(session, request, change)
        return change

    def _reopened(self, request: Request, now: datetime) -> Request:
        """``request`` reopened: fresh deadlines from ``now`` by its class, not acknowledged,
        not done."""
        service_class: ServiceClass | None = self.routing.classes.get(request.service_class)
        if service_class is None:
            # The class was renamed in the routing file since: route the request again.
            service_class = self.routing.route(
                request.category, request.district, at=now, tz=self.clock.tz
            ).service_class
        return replace(
            request,
            status=Status.REOPENED,
            service_class=service_class.id,
            urgent=service_class.urgent,
            ack_due=now + service_class.acknowledge,
            resolve_due=now + service_class.resolve,
            updated_at=now,
            acknowledged_at=None,
            done_at=None,
        )

    async def lock(self, session: StoreSession, request_id: int) -> Request:
        """The request, locked for the rest of the transaction as a change locks it (raises
        ``RequestNotFound``): for callers that must decide on what is stored before changing
        it (``services.open311``)."""
        return await self._require(session, request_id)

    async def _require(self, session: StoreSession, request_id: int) -> Request:
        """The request to change, locked for the rest of the transaction (``lock_request``):
        two operators, an operator and the deadline job, or two instances never both act on
        the status they read before the other wrote."""
        request = await lock_request(session, request_id)
        if request is None:
            raise RequestNotFound(request_id)
        return request

    async def _record(
        self,
        session: StoreSession,
        request: Request,
        *,
        event: EventKind,
        actor: Actor,
        from_status: Status,
        note: str | None,
    ) -> StatusChange:
        return await session.requests.add_history(
            NewStatusChange(
                request_id=request.id,
                event=event,
                actor=actor,
                at=self.clock.now(),
                from_status=from_status,
                to_status=request.status,
                note=note,
            )
        )

    async def _notify_observers(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None:
        for observer in [*self._observers, self._cards]:
            await observer.request_changed(session, request, change)


async def lock_request(session: StoreSession, request_id: int) -> Request | None:
    """The request as stored, locked for the rest of the transaction; None when there is none.

    The resident's lock is taken before the row's (``StoreSession.lock_resident``), the order
    the conversation takes them in: a change racing the resident's own message (an erasure, an
    answer, a follow-up) waits for it instead of deadlocking with it, and what the change
    writes into the resident's conversation state (``AwaitAnswer``) is never overwritten by a
    message handled at the same time. A request's resident never changes, so reading it
    before the lock is safe. Every read-check-change of one request goes through here (status
    changes, the deadline job's re-check, the follow-up's reopening)."""
    found = await session.requests.get(request_id)
    if found is None:
        return None
    await session.lock_resident(found.resident)
    return await session.requests.lock(request_id)
