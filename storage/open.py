"""Which backend ``DATABASE_URL`` selects: the one place that opens a database by its URL.

``sqlite:///...`` (the default) opens the SQLite file; ``postgresql://user@host:port/db``
opens a pool of ``pool_size`` connections to PostgreSQL. Either is migrated on opening.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from storage.base import Storage
from storage.maintenance import DatabaseHealth, DatabaseMaintenance
from storage.url import is_postgres_url

__all__ = ["OpenedStorage", "maintenance_of", "open_storage"]


class OpenedStorage(Storage, DatabaseHealth, Protocol):
    """A database as the bot gets it: transactions plus what the readiness check asks."""


async def open_storage(
    database_url: str, *, base: Path | None = None, pool_size: int = 5
) -> OpenedStorage:
    """Open (creating and migrating as needed) the database that ``database_url`` names.

    ``base``: what a relative SQLite path is relative to; ``pool_size``: PostgreSQL's
    connection pool (``DATABASE_POOL_SIZE``).
    """
    # Each backend is imported only when chosen: a SQLite deployment never loads libpq.
    if is_postgres_url(database_url):
        from storage.postgres import open_postgres  # noqa: PLC0415

        return await open_postgres(database_url, pool_size=pool_size)
    from storage.sqlite import open_storage as open_sqlite  # noqa: PLC0415

    return await open_sqlite(database_url, base=base)


def maintenance_of(storage: object) -> DatabaseMaintenance | None:
    """The live-backup and checkpoint interface when the backend has one (SQLite's file);
    None for a server database, which its own tools back up (PostgreSQL: ``pg_dump``)."""
    return storage if isinstance(storage, DatabaseMaintenance) else None
