"""The statistics contract: figures for a period by SQL, the requests export, the
monthly bill of messages the bot started, per channel.

Every method runs inside the caller's transaction (``StoreSession.stats``). A period is the
half-open interval ``[start, end)``; ``None`` leaves that side open (running totals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from domain.identity import ChannelName

__all__ = ["ExportRow", "ProactiveBill", "RequestField", "StatsStore"]

RequestField = Literal["category", "district", "executor_id", "status", "channel"]


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One request in the CSV export; personal fields are None unless asked for."""

    id: int
    created_at: datetime
    channel: str
    category: str
    district: str | None
    status: str
    executor_id: str
    service_class: str
    urgent: bool
    ack_due: datetime
    resolve_due: datetime
    acknowledged_at: datetime | None
    done_at: datetime | None
    followup_outcome: str | None
    followup_rating: int | None
    photos: tuple[str, ...] = ()
    phone: str | None = None
    address: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ProactiveBill:
    """Messages the bot started on one channel in one month (``YYYY-MM``, city time), as its
    delivery policy decided: sent and billed, sent free, held back, dropped."""

    channel: ChannelName
    month: str
    billed: int = 0
    free: int = 0
    held: int = 0
    dropped: int = 0


class StatsStore(Protocol):
    """Read-only aggregates over requests, follow-ups and consultations, plus the monthly bill
    of messages the bot started."""

    async def requests_count(self, *, start: datetime | None, end: datetime | None) -> int:
        """Requests created in the period."""
        ...

    async def requests_by(
        self, field: RequestField, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int]:
        """Requests created in the period per value of ``field`` (no district: ``""``)."""
        ...

    async def resolutions(self, *, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        """(requests marked done in the period, of them after their resolve deadline)."""
        ...

    async def overdue_open(self, *, at: datetime) -> int:
        """Requests still open whose resolve deadline is before ``at``."""
        ...

    async def followup_answers(
        self, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int]:
        """Follow-up outcomes answered in the period (``yes``/``partly``/``no`` -> count)."""
        ...

    async def rating_summary(
        self, *, start: datetime | None, end: datetime | None
    ) -> tuple[float | None, int]:
        """(average rating, how many ratings) of follow-ups answered in the period."""
        ...

    async def consultations_by_topic(
        self, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int] | None:
        """Consultations per topic (unmatched under ``""``); None without a consultations
        table."""
        ...

    async def unanswered_questions(
        self, *, start: datetime | None, end: datetime | None, limit: int = 5
    ) -> list[tuple[str, int]] | None:
        """The most frequent questions nothing answered; None without a consultations table."""
        ...

    async def export_requests(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        personal: bool = False,
        limit: int = 100_000,
    ) -> list[ExportRow]:
        """Requests created in the period, by id; phone, address and description only with
        ``personal``."""
        ...

    async def count_proactive(
        self,
        channel: ChannelName,
        month: str,
        *,
        billed: int = 0,
        free: int = 0,
        held: int = 0,
        dropped: int = 0,
    ) -> None:
        """Add to the channel's counters for the month."""
        ...

    async def proactive_bill(self, channel: ChannelName, month: str) -> ProactiveBill: ...
