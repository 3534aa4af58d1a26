"""SQLite implementation of the storage contract (the embedded default)."""

from storage.sqlite.database import SqliteStorage, open_storage

__all__ = ["SqliteStorage", "open_storage"]
