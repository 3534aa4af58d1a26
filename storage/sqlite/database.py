"""The SQLite backend: one aiosqlite connection in WAL mode, serialized transactions, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.errors import MigrationError, StorageBusy, StorageError
from storage.sqlite.session import SqliteStoreSession

logger = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("storage.sqlite") / "migrations"
    found: list[tuple[int, str, str]] = []
    for item in folder.iterdir():
        match = _MIGRATION_NAME.match(item.name)
        if match:
            found.append((int(match.group(1)), item.name, item.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number: {[n for _, n, _ in found]}")
    return found


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


class SqliteStorage:
    """SQLite behind the ``Storage`` contract.

    A single connection with an ``asyncio.Lock`` around each transaction: SQLite has one writer
    anyway, and serializing in-process avoids SQLITE_BUSY between our own coroutines. Other
    processes (a second bot by mistake, an editor's CLI) are waited for up to ``busy_timeout``.
    """

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(cls, path: Path, *, busy_timeout_ms: int = 5000) -> SqliteStorage:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            connection.row_factory = sqlite3.Row
            await connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.execute("PRAGMA foreign_keys = ON")
            storage = cls(connection, path)
            await storage.migrate()
        except BaseException:
            await connection.close()
            raise
        return storage

    async def migrate(self) -> list[str]:
        """Apply every numbered migration not applied yet, each in its own transaction."""
        applied: list[str] = []
        async with self._lock:
            await self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            async with self._db.execute("SELECT version FROM schema_migrations") as cursor:
                done = {row[0] async for row in cursor}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                try:
                    await self._db.execute("BEGIN IMMEDIATE")
                    for statement in _split_sql(sql):
                        await self._db.execute(statement)
                    await self._db.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at)"
                        " VALUES (?, ?, ?)",
                        (version, name, datetime.now(UTC).isoformat()),
                    )
                    await self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    await self._db.execute("ROLLBACK")
                    raise MigrationError(f"migration {name} failed: {error}") from error
                logger.info("applied migration %s", name)
                applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteStoreSession]:
        """One serialized transaction; commits on success, rolls back on any exception."""
        async with self._lock:
            if self._db.in_transaction:
                # Left open by a task cancelled mid-statement; nothing of it was committed.
                await self._rollback()
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _is_busy(error):
                    raise StorageBusy("the database is locked by another process") from error
                raise StorageError(str(error)) from error
            except BaseException:
                # Cancelled while BEGIN ran in aiosqlite's thread: it may have begun anyway.
                await self._rollback()
                raise
            try:
                yield SqliteStoreSession(self._db)
            except BaseException:
                await self._rollback()
                raise
            try:
                await asyncio.shield(self._db.execute("COMMIT"))
            except sqlite3.OperationalError as error:
                await self._rollback()
                if _is_busy(error):
                    raise StorageBusy("the database is locked by another process") from error
                raise StorageError(str(error)) from error
            except BaseException:
                # Cancelled while COMMIT ran: the commit itself continues under the shield; if
                # the connection still shows a transaction, it did not happen.
                await self._rollback()
                raise

    async def _rollback(self) -> None:
        """Roll back whatever is open, even when the calling task is being cancelled.

        aiosqlite runs statements in order on its own thread, and a cancelled ``await`` does
        not withdraw a statement already queued: a cancelled BEGIN or INSERT still runs. So the
        ROLLBACK is queued unconditionally (after them) rather than decided by
        ``in_transaction`` now, and "no transaction is active" is fine.
        """
        with contextlib.suppress(sqlite3.OperationalError):
            await asyncio.shield(self._db.execute("ROLLBACK"))

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements (``sqlite3.complete_statement`` knows where they end)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise MigrationError(f"unterminated SQL statement: {buffer.strip()[:80]!r}")
    return statements


async def open_storage(database_url: str, *, base: Path | None = None) -> SqliteStorage:
    """Open the database that ``DATABASE_URL`` names, creating and migrating it as needed."""
    from storage.url import sqlite_path  # noqa: PLC0415 - keeps this module importable alone

    return await SqliteStorage.open(sqlite_path(database_url, base=base))
