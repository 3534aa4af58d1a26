"""Every SQLite store bound to the connection of one open transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.identity import UserRef
from storage.outbox import OutboxLease
from storage.sqlite.card_copies import SqliteCardCopyStore
from storage.sqlite.connection import Connection
from storage.sqlite.consultations import SqliteConsultationStore
from storage.sqlite.followups import SqliteEscalationStore, SqliteFollowupStore
from storage.sqlite.open311 import SqliteOpen311Store
from storage.sqlite.outbox import SqliteOutboxStore
from storage.sqlite.privacy import SqlitePrivacyStore
from storage.sqlite.relay import SqliteRelayStore, SqliteStaffPromptStore
from storage.sqlite.requests import SqliteRequestStore
from storage.sqlite.retention import SqliteRetentionStore
from storage.sqlite.stats import SqliteStatsStore
from storage.sqlite.stores import SqliteConversationStore, SqliteResidentStore, SqliteUpdateStore

logger = logging.getLogger(__name__)


class SqliteStoreSession:
    """The ``StoreSession`` of the SQLite backend."""

    def __init__(self, db: Connection, lease: OutboxLease) -> None:
        self.residents = SqliteResidentStore(db)
        self.conversations = SqliteConversationStore(db)
        self.updates = SqliteUpdateStore(db)
        self.outbox = SqliteOutboxStore(db, lease)
        self.relay = SqliteRelayStore(db)
        self.staff_prompts = SqliteStaffPromptStore(db)
        self.requests = SqliteRequestStore(db)
        self.consultations = SqliteConsultationStore(db)
        self.followups = SqliteFollowupStore(db)
        self.escalations = SqliteEscalationStore(db)
        self.card_copies = SqliteCardCopyStore(db)
        self.stats = SqliteStatsStore(db)
        self.privacy = SqlitePrivacyStore(db)
        self.retention = SqliteRetentionStore(db)
        self.open311 = SqliteOpen311Store(db)
        self._after_commit: list[Callable[[], None]] = []

    async def lock_resident(self, user: UserRef) -> None:
        """Nothing to take: ``BEGIN IMMEDIATE`` already made this transaction the only writer."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def committed(self) -> None:
        """The transaction committed: run the ``after_commit`` callbacks (the database calls
        this after COMMIT succeeded)."""
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("after-commit callback failed")
