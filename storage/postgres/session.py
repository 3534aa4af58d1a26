"""Every PostgreSQL store bound to the connection of one open transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.identity import UserRef
from storage.outbox import OutboxLease
from storage.postgres.card_copies import PostgresCardCopyStore
from storage.postgres.connection import Connection, fetch_one
from storage.postgres.consultations import PostgresConsultationStore
from storage.postgres.followups import PostgresEscalationStore, PostgresFollowupStore
from storage.postgres.open311 import PostgresOpen311Store
from storage.postgres.outbox import PostgresOutboxStore
from storage.postgres.privacy import PostgresPrivacyStore
from storage.postgres.relay import PostgresRelayStore, PostgresStaffPromptStore
from storage.postgres.requests import PostgresRequestStore
from storage.postgres.retention import PostgresRetentionStore
from storage.postgres.stats import PostgresStatsStore
from storage.postgres.stores import (
    PostgresConversationStore,
    PostgresResidentStore,
    PostgresUpdateStore,
)

logger = logging.getLogger(__name__)

# A transaction-level advisory lock per resident (released at COMMIT or ROLLBACK), keyed by the
# channel identity so that it can be taken before the resident's row exists. The schema's
# name is part of the key: two schemas on one server (tests) never wait for each other.
_RESIDENT_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'resident:' || current_schema() || ':' || %s || ':' || %s, 0)) AS locked"
)


class PostgresStoreSession:
    """The ``StoreSession`` of the PostgreSQL backend."""

    def __init__(self, db: Connection, lease: OutboxLease) -> None:
        self.db = db
        self.residents = PostgresResidentStore(db)
        self.conversations = PostgresConversationStore(db)
        self.updates = PostgresUpdateStore(db)
        self.outbox = PostgresOutboxStore(db, lease)
        self.relay = PostgresRelayStore(db)
        self.staff_prompts = PostgresStaffPromptStore(db)
        self.requests = PostgresRequestStore(db)
        self.consultations = PostgresConsultationStore(db)
        self.followups = PostgresFollowupStore(db)
        self.escalations = PostgresEscalationStore(db)
        self.card_copies = PostgresCardCopyStore(db)
        self.open311 = PostgresOpen311Store(db)
        self.stats = PostgresStatsStore(db)
        self.privacy = PostgresPrivacyStore(db)
        self.retention = PostgresRetentionStore(db)
        self._after_commit: list[Callable[[], None]] = []

    async def lock_resident(self, user: UserRef) -> None:
        await fetch_one(self.db, _RESIDENT_LOCK, (user.channel.value, user.user_id))

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def committed(self) -> None:
        """The transaction committed: run the ``after_commit`` callbacks."""
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("after-commit callback failed")
