"""The outbox contract: messages the bot owes someone, with their delivery state."""

from __future__ import annotations

import builtins
import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
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


# How long a claim holds a message being sent (``OUTBOX_LEASE_SECONDS``): the sender renews it
# while it sends; a lease that ran out means its process died and the message goes back.
DEFAULT_LEASE_SECONDS = 60.0


def new_lease_owner() -> str:
    """An owner id for this process: host, pid and a random part, so a restarted process (even
    with the pid of the old one) never counts as the owner of what the old one left."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class OutboxLease:
    """Who holds the messages this process claims, and for how long.

    A claim (``claim``, ``claim_many``, ``enqueue_claimed``, ``mark_sending``) writes ``owner``
    and ``now + seconds`` into the row; ``renew_leases`` moves the expiry on; ``release_expired``
    puts back SENDING messages whose lease ran out, whoever held them."""

    owner: str
    seconds: float = DEFAULT_LEASE_SECONDS

    def until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.seconds)


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
    lease_owner: str | None = None  # the process that claimed it last (see ``OutboxLease``)
    lease_until: datetime | None = None


class OutboxStore(Protocol):
    """Outbox rows; every method runs inside the caller's transaction.

    A store is bound to its process's :class:`OutboxLease`: what it claims is leased to it."""

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        """Add ``message`` unless its idempotency key exists; True when added."""
        ...

    async def enqueue_claimed(self, message: NewOutboxMessage, *, now: datetime) -> int | None:
        """Add ``message`` already SENDING (one attempt counted, leased to this process) for the
        caller to send itself; its id, or None when the key exists. A crash before it is marked
        sent leaves it to the delivery worker once its lease runs out, like any message in
        flight."""
        ...

    async def due(self, *, now: datetime, limit: int) -> list[OutboxMessage]:
        """Pending messages whose time has come, oldest first."""
        ...

    async def in_flight(self) -> list[OutboxMessage]:
        """Messages left in SENDING (by a crash mid-delivery)."""
        ...

    async def mark_sending(self, message_id: int, *, now: datetime) -> None:
        """SENDING (leased to this process) counting an attempt, whatever its state."""
        ...

    async def mark_sent(self, message_id: int, *, now: datetime, sent_ids: list[str]) -> None: ...

    async def reschedule(
        self, message_id: int, *, not_before: datetime, error: str, count_attempt: bool = True
    ) -> None:
        """Back to PENDING for a retry at ``not_before``. A message another process has
        claimed since (this one's lease ran out) is left alone."""
        ...

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

    async def claim(self, message_id: int, *, now: datetime) -> bool:
        """PENDING -> SENDING counting an attempt, leased to this process until ``now`` plus
        the lease; False when it is no longer pending (or another process is claiming it)."""
        ...

    async def claim_many(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        """``claim`` for several messages at once; the ids this call claimed. On PostgreSQL a
        row another transaction is claiming is skipped (``FOR UPDATE SKIP LOCKED``), never
        waited for and never claimed twice."""
        ...

    async def renew_leases(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        """Move the lease of these SENDING messages held by this process on to ``now`` plus
        the lease; the ids still held (a message whose lease ran out and was taken back is
        not among them)."""
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

    async def expire_leases(self, message_ids: Collection[int], *, now: datetime) -> int:
        """End this process's leases of these SENDING messages at ``now`` (a send cut off at
        shutdown): the next ``release_expired`` takes them back at once."""
        ...

    async def release_expired(self, *, now: datetime) -> int:
        """SENDING -> PENDING for messages whose lease ran out by ``now``, whoever held them
        (their process died or lost the database mid-send: the send may or may not have
        happened), and for SENDING rows without a lease (left before migration 0012)."""
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
