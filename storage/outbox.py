"""The outbox contract: messages the bot owes someone, with their delivery state."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.identity import ChannelName, UserRef


class OutboxStatus(StrEnum):
    """Delivery state of one outbox message."""

    PENDING = "pending"  # waiting for its time (not_before) or a retry
    SENDING = "sending"  # handed to the platform; a crash here means "maybe sent"
    SENT = "sent"
    DEAD = "dead"  # gave up after the bounded number of tries; staff can retry
    CANCELLED = "cancelled"  # recipient blocked the bot or the message became pointless


@dataclass(frozen=True, slots=True)
class NewOutboxMessage:
    """A message to enqueue. ``body`` is the serialized replies (see services.codec)."""

    idempotency_key: str
    chat: UserRef
    kind: str
    body: str
    not_before: datetime
    resident_id: int | None = None
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What waits to be sent: the pending messages (due or not) and the creation time of the
    oldest of them (None when nothing is pending)."""

    pending: int
    oldest_created_at: datetime | None


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
    parts_sent: int = 0  # replies the platform accepted so far (a retry resumes after them)
    sent_ids: tuple[str, ...] = ()


class OutboxStore(Protocol):
    """Outbox rows; every method runs inside the caller's transaction."""

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        """Add ``message`` unless its idempotency key exists; True when added."""
        ...

    async def enqueue_claimed(self, message: NewOutboxMessage, *, now: datetime) -> int | None:
        """Add ``message`` already SENDING (one attempt counted) for the caller to send itself;
        its id, or None when the key exists. A crash before it is marked sent leaves it to the
        delivery worker's recovery, like any message in flight."""
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

    async def unsent_with_prefix(self, key_prefix: str) -> builtins.list[OutboxMessage]:
        """Pending messages none of whose replies went out yet, whose idempotency key starts
        with ``key_prefix``, oldest first."""
        ...

    async def rewrite(self, message_id: int, *, body: str) -> bool:
        """Replace the body of a message still pending with nothing sent; False otherwise (it
        is being sent or was)."""
        ...

    async def counts(self) -> dict[OutboxStatus, int]: ...

    async def backlog(self) -> OutboxBacklog:
        """How many messages are pending and since when the oldest one waits (``/metrics``)."""
        ...

    async def list(self, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]: ...

    # The delivery worker's side (notifications.worker).

    async def heads(
        self,
        *,
        now: datetime,
        quiet: bool,
        limit: int,
        channels: Collection[ChannelName] | None = None,
    ) -> builtins.list[OutboxMessage]:
        """The next message of each chat that may be sent now, urgent first, oldest first.

        Only chats of ``channels`` (all when None): a process without a channel leaves its
        messages waiting for one that has it.

        A message waits while an earlier message to the same chat is being sent or is due and
        not yet sent (retries included), so a chat gets its messages in order. During quiet
        hours (``quiet``) only urgent messages go, and they wait only for earlier urgent ones.
        """
        ...

    async def claim(self, message_id: int) -> bool:
        """PENDING -> SENDING counting an attempt; False when it is no longer pending."""
        ...

    async def claim_many(self, message_ids: Collection[int]) -> set[int]:
        """``claim`` for several messages at once; the ids that were still pending."""
        ...

    async def mark_sent_many(
        self, sent: builtins.list[tuple[int, builtins.list[str]]], *, now: datetime
    ) -> None:
        """``mark_sent`` for several (message id, platform ids) at once."""
        ...

    async def record_progress(
        self, message_id: int, *, parts_sent: int, sent_ids: builtins.list[str]
    ) -> None:
        """The platform accepted the first ``parts_sent`` replies (ids so far)."""
        ...

    async def release_in_flight(self, *, now: datetime) -> int:
        """SENDING -> PENDING after a crash (the send may or may not have happened)."""
        ...

    async def cancel(self, message_id: int, *, reason: str) -> None: ...

    async def recently_sent(
        self, *, since: datetime
    ) -> builtins.list[tuple[UserRef, datetime, int]]:
        """(chat, sent_at, platform messages) of messages sent at or after ``since``: a restarted
        worker primes its rate limiter with them."""
        ...

    async def next_due(self, *, after: datetime) -> datetime | None:
        """The earliest ``not_before`` of a pending message later than ``after``."""
        ...
