"""The consultations contract: every answer given (or not), for statistics and content editors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.identity import ChannelName


@dataclass(frozen=True, slots=True)
class NewConsultation:
    """One consultation. ``question`` is what the resident typed, given only for free text
    (unanswered, or answered from it, so that a "not helpful" shows what was asked); it is
    personal data, kept for content editors and erased with the resident's other data."""

    resident_id: int | None
    channel: ChannelName
    topic: str | None
    source: str  # "text" (free text), "menu" (browsing), "suggestion", "shelter", "crisis"
    matched: bool
    score: float | None = None
    question: str | None = None


@dataclass(frozen=True, slots=True)
class NewSuggestions:
    """Topics offered as buttons for a question that matched only uncertainly."""

    resident_id: int | None
    channel: ChannelName
    question: str
    topics: tuple[str, ...]  # entry ids, best first
    score: float | None = None


@dataclass(frozen=True, slots=True)
class TakenSuggestion:
    """A suggestion the resident pressed: the question it was offered for (None once erased)."""

    question: str | None


class ConsultationStore(Protocol):
    """Consultations inside the caller's transaction."""

    async def record(self, consultation: NewConsultation, *, now: datetime) -> int: ...

    async def set_helpful(self, consultation_id: int, resident_id: int, helpful: bool) -> bool:
        """Store the resident's feedback on their own consultation; False if not theirs."""
        ...

    async def offer_suggestions(self, offer: NewSuggestions, *, now: datetime) -> int:
        """Record topics offered as buttons (not taken until ``take_suggestion``); its id."""
        ...

    async def take_suggestion(
        self, offer_id: int, resident_id: int, topic: str, *, now: datetime
    ) -> TakenSuggestion | None:
        """The resident pressed ``topic`` of their own offer: mark it taken (the first topic
        pressed stays). None when the offer is not theirs or did not offer that topic."""
        ...

    async def unanswered(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, int]]:
        """The most frequent questions that found no answer: (question, count)."""
        ...

    async def not_helpful(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, str, int]]:
        """The most frequent answers marked not helpful: (question, topic given, count)."""
        ...

    async def suggestions_not_taken(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, tuple[str, ...], int]]:
        """The most frequent offers of which no topic was pressed: (question, topics, count)."""
        ...

    async def count_by_topic(self, *, start: datetime, end: datetime) -> dict[str, int]:
        """Consultations per topic in [start, end); unmatched ones under ``""``."""
        ...

    async def total(self) -> int: ...
