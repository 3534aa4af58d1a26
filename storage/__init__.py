"""Persistence behind small interfaces; SQLite by default (WAL, numbered migrations; inline
writes, threaded long reads: see ``storage.sqlite.connection``)."""

from storage.base import (
    ConversationState,
    ConversationStore,
    Resident,
    ResidentStore,
    Storage,
    StoreSession,
    UpdateStore,
)
from storage.errors import ConfigurationError, MigrationError, StorageBusy, StorageError
from storage.url import DEFAULT_DATABASE_URL, sqlite_path

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ConfigurationError",
    "ConversationState",
    "ConversationStore",
    "MigrationError",
    "Resident",
    "ResidentStore",
    "Storage",
    "StorageBusy",
    "StorageError",
    "StoreSession",
    "UpdateStore",
    "sqlite_path",
]
