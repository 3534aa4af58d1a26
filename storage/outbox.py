"""The outbox contract: messages the bot owes someone, with their delivery state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.identity import UserRef


class OutboxStatus(StrEnum):
    """Delivery state of one outbox message."""

    PENDING = "pending"  # waiting for its time (not_before) or a retry
    SENDING = "sending"  # handed to the platform; a crash here means "maybe sent"
    SENT = "sent"
    DEAD = "dead"  # gave up after the bounded number of tries; staff can retry
    CANCELLED = "cancelled"  # recipient blocked the bot or the message became pointless


@dataclass(frozen=True, slots=True)
class NewOutboxMessage:
    """A message to enqueue. ``body`` is the serialized replies (see notifications.codec)."""

    idempotency_key: str
    chat: UserRef
    kind: str
    body: str
    not_before: datetime
    resident_id: int | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A stored outbox message."""

    id: int
    idempotency_key: str
    chat: UserRef
    kind: str
    body: str
    resident_id: int | None
    urgent: bool
    status: OutboxStatus
    attempts: int
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class OutboxStore(Protocol):
    """Outbox rows; every method runs inside the caller's transaction."""

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        """Add ``message`` unless its idempotency key exists; True when added."""
        ...

    async def due(self, *, now: datetime, limit: int) -> list[OutboxMessage]:
        """Pending messages whose time has come, oldest first."""
        ...

    async def in_flight(self) -> list[OutboxMessage]:
        """Messages left in SENDING (by a crash mid-delivery)."""
        ...

    async def mark_sending(self, message_id: int) -> None: ...

    async def mark_sent(self, message_id: int, *, now: datetime, sent_ids: list[str]) -> None: ...

    async def reschedule(
        self, message_id: int, *, not_before: datetime, error: str, count_attempt: bool = True
    ) -> None: ...

    async def mark_dead(self, message_id: int, *, error: str) -> None: ...

    async def cancel_for_chat(self, chat: UserRef, *, reason: str) -> int: ...

    async def retry_dead(self, *, now: datetime, message_id: int | None = None) -> int: ...

    async def get(self, message_id: int) -> OutboxMessage | None: ...

    async def by_key(self, idempotency_key: str) -> OutboxMessage | None: ...

    async def counts(self) -> dict[OutboxStatus, int]: ...

    async def list(self, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]: ...
