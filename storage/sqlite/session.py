"""Every SQLite store bound to the connection of one open transaction."""

from __future__ import annotations

import aiosqlite

from storage.sqlite.consultations import SqliteConsultationStore
from storage.sqlite.outbox import SqliteOutboxStore
from storage.sqlite.stores import SqliteConversationStore, SqliteResidentStore, SqliteUpdateStore


class SqliteStoreSession:
    """The ``StoreSession`` of the SQLite backend."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.residents = SqliteResidentStore(db)
        self.conversations = SqliteConversationStore(db)
        self.updates = SqliteUpdateStore(db)
        self.outbox = SqliteOutboxStore(db)
        self.consultations = SqliteConsultationStore(db)
