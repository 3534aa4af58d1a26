"""The follow-up and escalation contract: "was it really done?" answers and missed deadlines.

Every method runs inside the caller's transaction (``StoreSession.followups`` and
``StoreSession.escalations``). What is due lives here, in the database; the scheduler's jobs
only look (invariant 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = [
    "DeadlineKind",
    "EscalationStore",
    "Followup",
    "FollowupOutcome",
    "FollowupStatus",
    "FollowupStore",
    "MissedDeadline",
    "Resolution",
]


class FollowupStatus(StrEnum):
    """Where a follow-up is."""

    ASKED = "asked"  # the question is queued or sent; no answer yet
    ANSWERED = "answered"  # the resident chose Так / Частково / Ні (details may follow)
    SKIPPED = "skipped"  # not asked (the resident blocked the bot or erased their data)


class FollowupOutcome(StrEnum):
    """The resident's answer to "was it really done?"."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"


class DeadlineKind(StrEnum):
    """Which deadline of a request was missed."""

    ACKNOWLEDGE = "ack"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class Followup:
    """One follow-up: the question about one resolution (``resolution_at`` = its done_at)."""

    id: int
    request_id: int
    resolution_at: datetime
    resident_id: int
    status: FollowupStatus
    asked_at: datetime
    reminded_at: datetime | None
    outcome: FollowupOutcome | None
    rating: int | None
    comment: str | None
    reason: str | None
    answered_at: datetime | None
    reopened_at: datetime | None


@dataclass(frozen=True, slots=True)
class Resolution:
    """A request that was marked done and has no follow-up for that resolution yet."""

    request_id: int
    resident_id: int
    done_at: datetime
    erased: bool


@dataclass(frozen=True, slots=True)
class MissedDeadline:
    """An open request past one of its deadlines, not escalated yet for that deadline."""

    request_id: int
    kind: DeadlineKind
    deadline: datetime


class FollowupStore(Protocol):
    """Follow-ups in the ``followups`` table."""

    async def unasked_resolutions(
        self, *, done_before: datetime, done_after: datetime, limit: int = 100
    ) -> list[Resolution]:
        """Requests now done, with ``done_at`` in ``(done_after, done_before]`` and no
        follow-up for that ``done_at``; oldest first."""
        ...

    async def create(
        self,
        *,
        request_id: int,
        resolution_at: datetime,
        resident_id: int,
        now: datetime,
        status: FollowupStatus = FollowupStatus.ASKED,
    ) -> Followup | None:
        """Insert unless this resolution has one already (then None)."""
        ...

    async def get(self, followup_id: int) -> Followup | None: ...

    async def latest_for_request(self, request_id: int) -> Followup | None: ...

    async def to_remind(self, *, asked_before: datetime, limit: int = 100) -> list[Followup]:
        """Asked, unanswered and not reminded, asked at or before ``asked_before``."""
        ...

    async def mark_reminded(self, followup_id: int, *, now: datetime) -> bool:
        """Record the reminder once, while the follow-up is still unanswered; False otherwise
        (reminded already, or answered meanwhile)."""
        ...

    async def answer(self, followup_id: int, outcome: FollowupOutcome, *, now: datetime) -> bool:
        """Record the outcome once; False if it was already answered."""
        ...

    async def set_rating(self, followup_id: int, rating: int) -> None: ...

    async def set_comment(self, followup_id: int, comment: str) -> None: ...

    async def set_reason(self, followup_id: int, reason: str | None, *, now: datetime) -> bool:
        """Store the reason and mark the request reopened; False if it already was."""
        ...

    async def awaiting_reason(
        self, *, answered_before: datetime, limit: int = 100
    ) -> list[Followup]:
        """ "Частково"/"Ні" answers whose reason never came (the request is not reopened yet)."""
        ...


class EscalationStore(Protocol):
    """Missed deadlines and the escalations already sent (``deadline_escalations``)."""

    async def missed(
        self, *, now: datetime, since: datetime, limit: int = 50
    ) -> list[MissedDeadline]:
        """Open requests whose acknowledge (still new/reopened) or resolve deadline is in
        ``(since, now]`` and not escalated yet for that deadline; earliest deadline first."""
        ...

    async def record(
        self, request_id: int, kind: DeadlineKind, deadline: datetime, *, now: datetime
    ) -> bool:
        """Remember the escalation; False if this deadline was escalated already."""
        ...
