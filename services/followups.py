"""The "was it really done?" loop: asking after a resolution, reminding once, recording the
answers, and reopening the request when the resident says it was not done.

The jobs (``ask_due``, ``remind_due``, ``reopen_unexplained``) and the conversation
(``handlers.followup``) both call this service inside their own transaction; every message goes
to the outbox in that transaction (invariant 2).

Payloads: ``v1:fu:<followup id>:<y|p|n>`` (the answer), ``v1:fur:<followup id>:<1-5>`` (the
rating), ``v1:fux:<followup id>`` ("skip" the comment or the reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from domain.clock import Clock
from domain.identity import UserRef
from domain.messages import Button, Reply
from domain.metrics import Metrics
from domain.payloads import build
from domain.requests import Actor, Request, RequestError, Status
from domain.texts import Texts
from services import cards
from services.outbox import enqueue, outbox_key
from services.requests import RequestService, lock_request
from storage.base import StoreSession
from storage.followups import Followup, FollowupOutcome, FollowupStatus

__all__ = [
    "ACTION_ANSWER",
    "ACTION_RATE",
    "ACTION_SKIP",
    "OUTCOME_CODES",
    "FollowupAccess",
    "FollowupService",
    "FollowupSettings",
]

logger = logging.getLogger(__name__)

ACTION_ANSWER = "fu"
ACTION_RATE = "fur"
ACTION_SKIP = "fux"
OUTCOME_CODES: dict[str, FollowupOutcome] = {
    "y": FollowupOutcome.YES,
    "p": FollowupOutcome.PARTLY,
    "n": FollowupOutcome.NO,
}
MAX_TEXT = 1000
LOW_RATING = 2  # a rating at or below this, with a comment, is shown to staff
_BATCH = 100


@dataclass(frozen=True, slots=True)
class FollowupSettings:
    """``FOLLOWUP_DELAY``, ``FOLLOWUP_REMINDER_AFTER``, ``FOLLOWUP_ANSWER_DAYS``; ``reason_wait``
    is how long a "Частково"/"Ні" waits for its reason before the request is reopened anyway."""

    delay: timedelta = timedelta(hours=24)
    reminder_after: timedelta = timedelta(hours=24)
    answer_days: int = 7
    reason_wait: timedelta = timedelta(hours=2)

    @property
    def answer_window(self) -> timedelta:
        return timedelta(days=self.answer_days)


class FollowupAccess:
    """Why a resident may not answer a follow-up (``FollowupService.open_for``)."""

    NOT_FOUND = "not_found"  # not theirs or no such follow-up: the same answer, nothing leaks
    LOCKED = "locked"  # asked more than FOLLOWUP_ANSWER_DAYS ago


class FollowupService:
    """Follow-ups: asks, reminds, records, reopens (see the module docstring)."""

    def __init__(
        self,
        requests: RequestService,
        texts: Texts,
        clock: Clock,
        *,
        staff_chat: UserRef | None,
        settings: FollowupSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.requests = requests
        # Answers and ratings are counted like the requests they are about.
        self.metrics = metrics if metrics is not None else requests.metrics
        self.texts = texts
        self.clock = clock
        self.staff_chat = staff_chat
        self.settings = settings or FollowupSettings()

    # -- the resident's side ------------------------------------------------------------------

    def question(
        self, followup: Followup, request: Request, language: str, *, reminder: bool
    ) -> Reply:
        """Так / Частково / Ні about ``request`` in ``language``."""
        t = self.texts.get
        key = "ntf_fu_reminder" if reminder else "ntf_fu_question"
        category = t(language, f"req_cat_{request.category.value}")
        buttons = tuple(
            Button(
                t(language, f"ntf_fu_btn_{outcome.value}"), build(ACTION_ANSWER, followup.id, code)
            )
            for code, outcome in OUTCOME_CODES.items()
        )
        return Reply(t(language, key, number=request.number, category=category), buttons=(buttons,))

    def rating_buttons(self, followup: Followup) -> tuple[tuple[Button, ...], ...]:
        return (tuple(Button(str(n), build(ACTION_RATE, followup.id, n)) for n in range(1, 6)),)

    def skip_button(self, followup: Followup, language: str) -> tuple[tuple[Button, ...], ...]:
        return (
            (Button(self.texts.get(language, "ntf_fu_btn_skip"), build(ACTION_SKIP, followup.id)),),
        )

    async def open_for(
        self, session: StoreSession, followup_id: int, resident_id: int
    ) -> Followup | str:
        """The resident's own follow-up that may still be answered, or a ``FollowupAccess``."""
        followup = await session.followups.get(followup_id)
        if followup is None or followup.resident_id != resident_id:
            return FollowupAccess.NOT_FOUND
        if self.clock.now() > followup.asked_at + self.settings.answer_window:
            return FollowupAccess.LOCKED
        return followup

    async def record_outcome(
        self, session: StoreSession, followup: Followup, outcome: FollowupOutcome
    ) -> bool:
        """Store the answer once; False when it was answered before."""
        recorded = await session.followups.answer(followup.id, outcome, now=self.clock.now())
        if recorded:
            logger.info("follow-up %s answered: %s", followup.id, outcome.value)
            session.after_commit(partial(self.metrics.followup_answer, outcome.value))
            # In the request's history, so every copy of its card shows the answer.
            await self.requests.record_followup(
                session, followup.request_id, outcome.value, Actor.resident(followup.resident_id)
            )
        return recorded

    async def record_rating(self, session: StoreSession, followup: Followup, rating: int) -> None:
        await session.followups.set_rating(followup.id, rating)
        if followup.rating is None:  # a rating pressed again is not a second answer
            session.after_commit(partial(self.metrics.followup_rating, rating))
        if followup.rating != rating:
            await self.requests.record_rating(
                session, followup.request_id, rating, Actor.resident(followup.resident_id)
            )

    async def record_comment(self, session: StoreSession, followup: Followup, comment: str) -> None:
        text = comment.strip()[:MAX_TEXT]
        await session.followups.set_comment(followup.id, text)
        current = await session.followups.get(followup.id)
        if current is not None and current.rating is not None and current.rating <= LOW_RATING:
            request = await session.requests.get(followup.request_id)
            if request is not None:
                await self._to_staff(
                    session,
                    key=outbox_key("fu", followup.id, "low"),
                    title=self.texts.get("uk", "ntf_staff_low_rating_title", number=request.number),
                    text=self.texts.get(
                        "uk", "ntf_staff_low_rating", rating=current.rating, comment=text
                    ),
                    urgent=False,
                )

    async def give_reason(
        self, session: StoreSession, followup: Followup, reason: str | None
    ) -> Request | None:
        """The reason of a "Частково"/"Ні" (None: none came): reopen the request to the same
        executor with fresh deadlines and tell the staff chat. Returns the reopened request, or
        None when it was not reopened (already reopened, or staff changed it meanwhile)."""
        now = self.clock.now()
        text = reason.strip()[:MAX_TEXT] if reason and reason.strip() else None
        # The resident's lock, then the request's row, as a status change takes them: the
        # resident's reason and the job reopening without one (``reopen_unexplained``) on two
        # instances take turns, and the request checked below is the one stored, not a stale
        # read an operator changed meanwhile.
        request = await lock_request(session, followup.request_id)
        if request is None:
            return None
        outcome = self.texts.get(
            "uk", f"ntf_outcome_{(followup.outcome or FollowupOutcome.NO).value}"
        )
        shown_reason = text or self.texts.get("uk", "ntf_no_reason")
        if not await session.followups.set_reason(followup.id, text, now=now):
            # Reopened already (the reason came after the wait): staff still get the words.
            if text is not None:
                await self._to_staff(
                    session,
                    key=outbox_key("fu", followup.id, "late_reason"),
                    title=self.texts.get("uk", "ntf_staff_reopen_title", number=request.number),
                    text=self.texts.get(
                        "uk", "ntf_staff_late_reason", outcome=outcome, reason=text
                    ),
                    urgent=True,
                )
            return None
        reopened: Request | None = None
        if request.status is Status.DONE and request.done_at == followup.resolution_at:
            # The note is what the resident's status update and the card history show.
            resident = await session.residents.get_by_id(followup.resident_id)
            language = resident.language if resident is not None else "uk"
            note = text or self.texts.get(language, "ntf_no_reason")
            try:
                reopened = await self.requests.reopen(
                    session, request.id, Actor.resident(followup.resident_id), note
                )
            except RequestError:
                logger.warning("request %s could not be reopened from follow-up", request.id)
        if reopened is not None:
            executor = self.requests.routing.executors.get(reopened.executor_id)
            body = self.texts.get(
                "uk",
                "ntf_staff_reopen",
                outcome=outcome,
                reason=shown_reason,
                executor=executor.name if executor else reopened.executor_id,
                deadline=cards.format_local(reopened.resolve_due, self.clock.tz),
            )
        else:
            status = self.texts.get("uk", f"req_status_{request.status.value}")
            body = self.texts.get(
                "uk", "ntf_staff_not_reopened", outcome=outcome, reason=shown_reason, status=status
            )
        await self._to_staff(
            session,
            key=outbox_key("fu", followup.id, "staff"),
            title=self.texts.get("uk", "ntf_staff_reopen_title", number=request.number),
            text=body,
            urgent=True,
        )
        logger.info("follow-up %s: request %s reopened=%s", followup.id, request.id, bool(reopened))
        return reopened

    # -- the jobs -----------------------------------------------------------------------------

    async def ask_due(self, session: StoreSession) -> int:
        """Ask about every resolution ``FOLLOWUP_DELAY`` old (and younger than the answer
        window, so a long downtime or a first start does not ask about old history)."""
        now = self.clock.now()
        asked = 0
        due = await session.followups.unasked_resolutions(
            done_before=now - self.settings.delay,
            done_after=now - self.settings.delay - self.settings.answer_window,
            limit=_BATCH,
        )
        for resolution in due:
            request = await session.requests.get(resolution.request_id)
            resident = await session.residents.get_by_id(resolution.resident_id)
            skip = request is None or resident is None or resident.blocked or resolution.erased
            followup = await session.followups.create(
                request_id=resolution.request_id,
                resolution_at=resolution.done_at,
                resident_id=resolution.resident_id,
                now=now,
                status=FollowupStatus.SKIPPED if skip else FollowupStatus.ASKED,
            )
            if followup is None or skip or request is None or resident is None:
                continue
            await enqueue(
                session,
                key=outbox_key("fu", followup.id, "ask"),
                chat=request.resident,
                replies=[self.question(followup, request, resident.language, reminder=False)],
                kind="followup",
                now=now,
                resident_id=resident.id,
            )
            asked += 1
        return asked

    async def remind_due(self, session: StoreSession) -> int:
        """One reminder per follow-up still unanswered ``FOLLOWUP_REMINDER_AFTER`` after it was
        asked, unless the request changed meanwhile or answering is locked."""
        now = self.clock.now()
        reminded = 0
        for followup in await session.followups.to_remind(
            asked_before=now - self.settings.reminder_after, limit=_BATCH
        ):
            # Marked first: whatever happens below, this follow-up is never looked at again.
            # Not marked (and not reminded) when the resident answered since it was listed:
            # their answer, committed on another instance, wins over the reminder.
            if not await session.followups.mark_reminded(followup.id, now=now):
                continue
            request = await session.requests.get(followup.request_id)
            resident = await session.residents.get_by_id(followup.resident_id)
            current = (
                request is not None
                and request.status is Status.DONE
                and request.done_at == followup.resolution_at
            )
            open_ = now <= followup.asked_at + self.settings.answer_window
            if not current or not open_ or request is None or resident is None:
                continue
            await enqueue(
                session,
                key=outbox_key("fu", followup.id, "remind"),
                chat=request.resident,
                replies=[self.question(followup, request, resident.language, reminder=True)],
                kind="followup_reminder",
                now=now,
                resident_id=resident.id,
            )
            reminded += 1
        return reminded

    async def reopen_unexplained(self, session: StoreSession) -> int:
        """ "Частково"/"Ні" without a reason after ``reason_wait``: reopen anyway."""
        count = 0
        for followup in await session.followups.awaiting_reason(
            answered_before=self.clock.now() - self.settings.reason_wait, limit=_BATCH
        ):
            await self.give_reason(session, followup, None)
            count += 1
        return count

    async def _to_staff(
        self, session: StoreSession, *, key: str, title: str, text: str, urgent: bool
    ) -> None:
        if self.staff_chat is None:
            return
        await enqueue(
            session,
            key=key,
            chat=self.staff_chat,
            replies=[Reply(text, title=title)],
            kind="followup_staff",
            now=self.clock.now(),
            urgent=urgent,
        )
