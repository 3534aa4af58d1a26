"""Missed deadlines: remind the executor's chat and escalate to the staff chat, once per deadline.

A request past its acknowledge deadline (still new or reopened) or its resolve deadline (not done
or rejected) is escalated once for that deadline's value: the ``deadline_escalations`` row is
written in the same transaction as the messages, so a job that runs twice escalates once, and a
reopened request with a new deadline is escalated again when it misses that one. With the
request service (``requests``), the escalation is also a history entry of the request, so
every copy of its card shows it (``services.card_copies``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from domain.clock import Clock
from domain.identity import UserRef
from domain.messages import Reply
from domain.metrics import NO_METRICS, Metrics
from domain.requests import Request, Status
from domain.texts import Texts
from services import cards
from services.outbox import enqueue, outbox_key
from services.requests import RequestService, lock_request
from services.routing import Routing
from storage.base import StoreSession
from storage.followups import DeadlineKind, MissedDeadline

__all__ = ["DeadlineWatch"]

logger = logging.getLogger(__name__)

# Deadlines missed longer ago than this are not escalated one by one (a first start on an old
# database would flood the staff chat); the digest still counts them as overdue.
LOOKBACK = timedelta(days=7)
_BATCH = 50
# The statuses that still wait for an acknowledgement (as ``EscalationStore.missed`` lists).
_AWAITING_ACK = frozenset({Status.NEW, Status.REOPENED})


class DeadlineWatch:
    """Finds missed deadlines and queues the reminder and the escalation."""

    def __init__(
        self,
        routing: Routing,
        texts: Texts,
        clock: Clock,
        *,
        staff_chat: UserRef | None,
        metrics: Metrics = NO_METRICS,
        requests: RequestService | None = None,
    ) -> None:
        self.routing = routing
        self.requests = requests
        self.metrics = metrics
        self.texts = texts
        self.clock = clock
        self.staff_chat = staff_chat

    def message(self, request: Request, missed: MissedDeadline, *, reminder: bool) -> Reply:
        t = self.texts.get
        deadline = cards.format_local(missed.deadline, self.clock.tz)
        what = t(
            "uk",
            "ntf_deadline_ack"
            if missed.kind is DeadlineKind.ACKNOWLEDGE
            else "ntf_deadline_resolve",
            deadline=deadline,
        )
        executor = self.routing.executors.get(request.executor_id)
        district = (
            t("uk", f"req_district_{request.district.value}")
            if request.district
            else t("uk", "req_district_unknown")
        )
        body = t(
            "uk",
            "ntf_deadline_body",
            what=what,
            category=t("uk", f"req_cat_{request.category.value}"),
            district=district,
            executor=executor.name if executor else request.executor_id,
            status=t("uk", f"req_status_{request.status.value}"),
        )
        title_key = "ntf_deadline_reminder_title" if reminder else "ntf_deadline_title"
        return Reply(
            body,
            title=t("uk", title_key, number=request.number),
            buttons=cards.card_buttons(request, self.texts, "uk"),
        )

    @staticmethod
    async def _still_missed(session: StoreSession, missed: MissedDeadline) -> Request | None:
        """The request, locked as a status change locks it (the resident's lock, then the
        row), if it still misses that deadline: the list was read without locks, and an
        operator on another instance may have acknowledged or resolved it since (their change
        committed, or waited for here), which must not be escalated."""
        request = await lock_request(session, missed.request_id)
        if request is None:
            return None
        if missed.kind is DeadlineKind.ACKNOWLEDGE:
            waiting = request.status in _AWAITING_ACK and request.ack_due == missed.deadline
        else:
            waiting = request.is_open and request.resolve_due == missed.deadline
        return request if waiting else None

    async def escalate_due(self, session: StoreSession) -> int:
        """Escalate every deadline missed since ``LOOKBACK`` and not escalated yet."""
        now = self.clock.now()
        count = 0
        for missed in await session.escalations.missed(now=now, since=now - LOOKBACK, limit=_BATCH):
            request = await self._still_missed(session, missed)
            if request is None:
                continue
            if not await session.escalations.record(
                missed.request_id, missed.kind, missed.deadline, now=now
            ):
                continue
            deadline = int(missed.deadline.timestamp())
            if self.staff_chat is not None:
                await enqueue(
                    session,
                    key=outbox_key("dl", request.id, missed.kind.value, deadline, "staff"),
                    chat=self.staff_chat,
                    replies=[self.message(request, missed, reminder=False)],
                    kind="deadline_escalation",
                    now=now,
                    urgent=True,
                )
            executor = self.routing.executors.get(request.executor_id)
            chat = executor.chat if executor is not None else None
            if chat is not None and chat != self.staff_chat:
                await enqueue(
                    session,
                    key=outbox_key("dl", request.id, missed.kind.value, deadline, "exec"),
                    chat=chat,
                    replies=[self.message(request, missed, reminder=True)],
                    kind="deadline_reminder",
                    now=now,
                    urgent=True,
                )
            if self.requests is not None:
                await self.requests.record_escalation(session, request.id, missed.kind.value)
            logger.info(
                "request %s: %s deadline missed, escalated",
                request.id,
                missed.kind.value,
                extra={"request": request.number},
            )
            session.after_commit(partial(self.metrics.deadline_breached, missed.kind.value))
            count += 1
        return count
