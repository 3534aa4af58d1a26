"""Persistence behind small interfaces; SQLite by default (WAL, numbered migrations; inline
writes, threaded long reads: see ``storage.sqlite.connection``), PostgreSQL when
``DATABASE_URL`` names one (``storage.postgres``); ``storage.open`` picks by the URL."""

from storage.base import (
    ConversationState,
    ConversationStore,
    Resident,
    ResidentStore,
    Storage,
    StoreSession,
    UpdateStore,
)
from storage.errors import (
    ConfigurationError,
    DatabaseUnreachable,
    MigrationError,
    StorageBusy,
    StorageError,
)
from storage.url import DEFAULT_DATABASE_URL, sqlite_path

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ConfigurationError",
    "ConversationState",
    "ConversationStore",
    "DatabaseUnreachable",
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
