"""The maintenance contract: consistent copies of the live database and WAL checkpoints.

A backend that can be backed up while the bot runs offers :class:`DatabaseMaintenance`; the
scheduled jobs (``notifications.maintenance``) and the command line (``bot.admin``) use it. The
SQLite implementation is :mod:`storage.sqlite.backup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from storage.errors import StorageError

__all__ = ["BackupError", "BackupResult", "CheckpointResult", "DatabaseMaintenance"]


class BackupError(StorageError):
    """A copy could not be written or did not pass its check; nothing was put at the target."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished, checked copy: where it is, how big, and the schema version it holds."""

    path: Path
    size: int
    schema_version: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """``PRAGMA wal_checkpoint``'s answer: ``busy`` when a reader or writer kept it from
    finishing (it is tried again later); WAL frames before and after, and the -wal file's size
    afterwards (0 once truncated)."""

    busy: bool
    log_frames: int
    checkpointed_frames: int
    wal_bytes: int


@runtime_checkable
class DatabaseMaintenance(Protocol):
    """What the maintenance jobs need from a database that is in use."""

    async def backup(self, target: Path) -> BackupResult:
        """Write a consistent, checked copy of the live database to ``target`` (atomically:
        the file appears complete or not at all)."""
        ...

    async def checkpoint(self) -> CheckpointResult:
        """Copy the write-ahead log into the database and truncate it to zero bytes."""
        ...


class DatabaseHealth(Protocol):
    """What a readiness check asks a database (``/readyz``)."""

    async def probe_write(self) -> None:
        """One real, tiny write transaction, committed. Raises ``StorageBusy`` when another
        process holds the write lock past the busy timeout and ``StorageError`` (or the
        driver's error) when the database cannot be written; callers bound it with a timeout."""
        ...

    async def schema_version(self) -> int:
        """The number of the newest migration applied to this database."""
        ...

    def known_schema_version(self) -> int:
        """The number of the newest migration this code knows."""
        ...
