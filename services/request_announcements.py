"""What the request service tells people, queued in the caller's transaction.

``RequestAnnouncer`` writes every outbox row of the request lifecycle: the card to the staff
chat (kind ``"card"``, urgent) and to an executor's own chat, the resident's status update
(kind ``"status"``, not urgent) and the resident's answer to a question (kind ``"answer"``,
urgent). Keys are built with ``services.outbox.outbox_key`` (``req:<id>:...``, see
``services.requests``); the texts come from ``services.cards`` and
``services.resident_texts``.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from domain.requests import Request, StatusChange
from domain.texts import Texts
from services import cards
from services.outbox import enqueue, outbox_key
from services.resident_texts import status_message
from services.routing import Executor, Routing
from storage.base import StoreSession

__all__ = ["RequestAnnouncer", "executor_chat"]


def executor_chat(executor: Executor) -> UserRef | None:
    """The executor's own chat, if the routing file gives one."""
    return executor.chat


class RequestAnnouncer:
    """Queues the cards, status updates and forwarded answers of requests."""

    def __init__(
        self, routing: Routing, texts: Texts, clock: Clock, staff_chat: UserRef | None
    ) -> None:
        self.routing = routing
        self.texts = texts
        self.clock = clock
        self.staff_chat = staff_chat

    def render_card(
        self,
        request: Request,
        history: Sequence[StatusChange],
        language: str = "uk",
        *,
        shown_in: ChannelName,
    ) -> Reply:
        return cards.render_card(
            request,
            history,
            texts=self.texts,
            routing=self.routing,
            tz=self.clock.tz,
            language=language,
            shown_in=shown_in,
        )

    def card_replies(
        self, request: Request, history: Sequence[StatusChange], chat: UserRef
    ) -> list[Reply]:
        """What a card row sends to ``chat``: the card, then the photos after the first."""
        return [
            self.render_card(request, history, shown_in=chat.channel),
            *cards.extra_photos(request, shown_in=chat.channel),
        ]

    def status_message(self, request: Request, change: StatusChange, language: str) -> Reply:
        return status_message(request, change, language, texts=self.texts, tz=self.clock.tz)

    async def card_to_staff(
        self, session: StoreSession, request: Request, history: Sequence[StatusChange], *, key: str
    ) -> None:
        """The card (and the photos after the first) to the staff chat, if there is one."""
        if self.staff_chat is None:
            return
        await self._card(session, request, history, self.staff_chat, key=key)

    async def card_to_executor(
        self,
        session: StoreSession,
        request: Request,
        history: Sequence[StatusChange],
        executor: Executor,
        *,
        key: str,
    ) -> None:
        """The card to the executor's own chat, unless it has none or it is the staff chat."""
        chat = executor_chat(executor)
        if chat is None or chat == self.staff_chat:
            return
        await self._card(session, request, history, chat, key=key)

    async def status_to_resident(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None:
        """The resident's update about ``change``, in their language."""
        resident = await session.residents.get_by_id(request.resident_id)
        language = resident.language if resident else "uk"
        await enqueue(
            session,
            key=outbox_key("req", request.id, "status", change.id),
            chat=request.resident,
            replies=[self.status_message(request, change, language)],
            kind="status",
            now=self.clock.now(),
            resident_id=request.resident_id,
        )

    async def answer_to_staff(
        self,
        session: StoreSession,
        request: Request,
        change: StatusChange,
        *,
        question: str | None,
        answer: str,
    ) -> None:
        """The resident's answer with the question and the status buttons, to the staff chat
        and to the executor's own chat."""
        reply = Reply(
            title=self.texts.get("uk", "req_staff_answer_title", number=request.number),
            text=self.texts.get("uk", "req_staff_answer", question=question or "—", answer=answer),
            buttons=cards.card_buttons(request, self.texts, "uk"),
        )
        targets: list[tuple[str, UserRef]] = []
        if self.staff_chat is not None:
            targets.append(("staff", self.staff_chat))
        executor = self.routing.executors.get(request.executor_id)
        chat = executor_chat(executor) if executor is not None else None
        if chat is not None:
            targets.append(("exec", chat))
        for name, target in targets:
            await enqueue(
                session,
                key=outbox_key("req", request.id, "answer", change.id, name),
                chat=target,
                replies=[reply],
                kind="answer",
                now=self.clock.now(),
                urgent=True,
            )

    async def _card(
        self,
        session: StoreSession,
        request: Request,
        history: Sequence[StatusChange],
        chat: UserRef,
        *,
        key: str,
    ) -> None:
        await enqueue(
            session,
            key=key,
            chat=chat,
            replies=self.card_replies(request, history, chat),
            kind="card",
            now=self.clock.now(),
            urgent=True,
        )
