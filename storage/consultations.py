"""The consultations contract: every answer given (or not), for statistics and content editors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.identity import ChannelName


@dataclass(frozen=True, slots=True)
class NewConsultation:
    """One consultation. ``question`` is kept only when nothing matched (for editors)."""

    resident_id: int | None
    channel: ChannelName
    topic: str | None
    source: str  # "text" (free text), "menu" (browsing), "shelter" (nearest shelter)
    matched: bool
    score: float | None = None
    question: str | None = None


class ConsultationStore(Protocol):
    """Consultations inside the caller's transaction."""

    async def record(self, consultation: NewConsultation, *, now: datetime) -> int: ...

    async def set_helpful(self, consultation_id: int, resident_id: int, helpful: bool) -> bool:
        """Store the resident's feedback on their own consultation; False if not theirs."""
        ...

    async def unanswered(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, int]]:
        """The most frequent questions that found no answer: (question, count)."""
        ...

    async def count_by_topic(self, *, start: datetime, end: datetime) -> dict[str, int]:
        """Consultations per topic in [start, end); unmatched ones under ``""``."""
        ...

    async def total(self) -> int: ...
