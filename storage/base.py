"""The storage contract: records and the ``*Store`` interfaces every backend implements."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.identity import UserRef
from storage.card_copies import CardCopyStore
from storage.consultations import ConsultationStore
from storage.followups import EscalationStore, FollowupStore
from storage.leader import LeaderLock
from storage.open311 import Open311Store
from storage.outbox import OutboxLease, OutboxStore
from storage.privacy import PrivacyStore
from storage.relay import RelayStore, StaffPromptStore
from storage.requests import RequestStore
from storage.retention import RetentionStore
from storage.stats import StatsStore

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Resident:
    """A person who wrote to the bot in one channel."""

    id: int
    user: UserRef
    language: str
    display_name: str | None
    consent_personal_data: bool
    consent_at: datetime | None
    blocked: bool
    first_seen: datetime
    last_seen: datetime


@dataclass(slots=True)
class ConversationState:
    """Where a resident is in the conversation; ``data`` holds the step's answers so far."""

    step: str = "idle"
    data: JsonDict = field(default_factory=dict)


class ResidentStore(Protocol):
    """Residents by channel identity."""

    async def touch(
        self,
        user: UserRef,
        *,
        now: datetime,
        display_name: str | None = None,
        default_language: str = "uk",
    ) -> Resident:
        """Create the resident on first contact or update ``last_seen``; return it."""
        ...

    async def get(self, user: UserRef) -> Resident | None: ...

    async def get_by_id(self, resident_id: int) -> Resident | None: ...

    async def set_language(self, resident_id: int, language: str) -> None: ...

    async def set_consent(self, resident_id: int, consent: bool, *, now: datetime) -> None: ...

    async def set_blocked(self, resident_id: int, blocked: bool) -> None: ...

    async def count(self) -> int: ...


class ConversationStore(Protocol):
    """The persisted conversation state, so a restart resumes where a resident was."""

    async def load(self, resident_id: int) -> ConversationState: ...

    async def save(self, resident_id: int, state: ConversationState, *, now: datetime) -> None: ...


class UpdateStore(Protocol):
    """Keys of processed platform deliveries (Telegram update_id, Viber message_token)."""

    async def seen(self, key: str) -> bool: ...

    async def remember(self, key: str, *, now: datetime) -> bool:
        """Record ``key``; return False when it was already recorded."""
        ...

    async def prune(self, *, before: datetime, limit: int | None = None) -> int:
        """Forget keys recorded before ``before`` (at most ``limit`` of them); return how many."""
        ...


class StoreSession(Protocol):
    """The stores as seen inside one transaction: all of it commits, or none of it."""

    @property
    def residents(self) -> ResidentStore: ...

    @property
    def conversations(self) -> ConversationStore: ...

    @property
    def updates(self) -> UpdateStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def relay(self) -> RelayStore: ...

    @property
    def staff_prompts(self) -> StaffPromptStore: ...

    @property
    def requests(self) -> RequestStore: ...

    @property
    def consultations(self) -> ConsultationStore: ...

    @property
    def followups(self) -> FollowupStore: ...

    @property
    def escalations(self) -> EscalationStore: ...

    @property
    def card_copies(self) -> CardCopyStore: ...

    @property
    def stats(self) -> StatsStore: ...

    @property
    def privacy(self) -> PrivacyStore: ...

    @property
    def retention(self) -> RetentionStore: ...

    @property
    def open311(self) -> Open311Store: ...

    async def lock_resident(self, user: UserRef) -> None:
        """Hold the resident's lock to the end of this transaction: every transaction that
        reads and rewrites what belongs to one resident (their conversation state, their
        relay, their personal data) takes it first, so two instances handling two messages of
        one resident run one after the other. The resident need not exist yet. A no-op where
        every transaction already writes alone (SQLite's one writer)."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed, never when it rolls back (a
        snapshot never commits): for counting what happened (metrics), not for work that must
        not be lost. A callback that raises is logged and does not affect the others."""
        ...


class Storage(Protocol):
    """A database: opens transactions and closes the connection.

    ``outbox_lease``: who this process is when it claims outbox messages and how long a claim
    holds (a new owner per process; the composition root sets ``OUTBOX_LEASE_SECONDS``)."""

    outbox_lease: OutboxLease

    def transaction(self) -> AbstractAsyncContextManager[StoreSession]:
        """A short read-write transaction (serialized with every other one)."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[StoreSession]:
        """A read-only view for long queries (statistics, exports): it does not hold up
        transactions, and writing through it fails."""
        ...

    def leader_lock(self, name: str) -> LeaderLock:
        """The lock one process of the deployment holds to run the jobs named ``name``
        (``storage.leader``)."""
        ...

    async def close(self) -> None: ...
