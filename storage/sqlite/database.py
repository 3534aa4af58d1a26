"""The SQLite backend: WAL mode, serialized inline write transactions, threaded long reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.errors import MigrationError, StorageBusy, StorageError
from storage.maintenance import BackupResult, CheckpointResult
from storage.outbox import OutboxLease, new_lease_owner
from storage.sqlite.backup import checkpoint_wal, copy_database
from storage.sqlite.connection import InlineConnection
from storage.sqlite.instance import InstanceLock
from storage.sqlite.leader import SqliteLeaderLock
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


def known_schema_version() -> int:
    """The number of the newest migration this code knows."""
    return max((version for version, _, _ in _migrations()), default=0)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


# The WAL is copied back into the database file (a checkpoint, with an fsync) after this many
# commits, in a worker thread: SQLite's own automatic checkpoint would run inside a commit, on
# the event loop, and stall every conversation for as long as the disk takes.
CHECKPOINT_EVERY = 500

# A truncating checkpoint waits this long for readers; meanwhile writers wait too (SQLite's
# rule), so it is short: a busy checkpoint is tried again by the next one.
TRUNCATE_BUSY_TIMEOUT_MS = 1000

# Waiting for another process's write lock: first pause, and the longest pause between tries.
_BUSY_FIRST_PAUSE = 0.002
_BUSY_MAX_PAUSE = 0.1


class SqliteStorage:
    """SQLite behind the ``Storage`` contract.

    Writes: one :class:`InlineConnection` and an ``asyncio.Lock`` around each transaction.
    SQLite has one writer anyway; serializing in-process avoids SQLITE_BUSY between our own
    coroutines, and statements run inline (see :mod:`storage.sqlite.connection` for why). Another
    process holding the write lock (a second bot by mistake, an editor's CLI) is waited for up
    to ``busy_timeout_ms`` by retrying ``BEGIN IMMEDIATE`` with asyncio sleeps, never by
    SQLite's own busy wait, which would stall the event loop.

    Long reads: :meth:`snapshot` runs on a second, read-only aiosqlite connection in its own
    thread. In WAL mode readers and the writer do not block each other, so statistics over
    hundreds of thousands of rows neither stall the loop nor hold up residents' messages.

    While open it holds the shared instance lock (:mod:`storage.sqlite.instance`), so a restore
    refuses to replace the file under it. :meth:`backup` and :meth:`checkpoint` are the
    ``DatabaseMaintenance`` contract (:mod:`storage.sqlite.backup`).
    """

    def __init__(self, connection: InlineConnection, path: Path, *, busy_timeout_ms: int) -> None:
        self._db = connection
        self._lock = asyncio.Lock()
        self._busy_timeout = busy_timeout_ms / 1000
        self._reader: aiosqlite.Connection | None = None
        self._reader_lock = asyncio.Lock()
        self._commits = 0
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._instance_lock: InstanceLock | None = None
        self.path = path
        # What this process claims in the outbox is leased to it (a new owner per process).
        self.outbox_lease = OutboxLease(new_lease_owner())

    @classmethod
    async def open(
        cls, path: Path, *, busy_timeout_ms: int = 5000, instance_lock: bool = True
    ) -> SqliteStorage:
        """Open (creating and migrating as needed) the database at ``path``.

        ``instance_lock``: hold the shared instance lock while open (waiting up to the busy
        timeout while a restore holds it exclusively).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = InstanceLock(path if instance_lock else None, timeout=busy_timeout_ms / 1000)
        await lock.acquire_shared()
        try:
            connection = InlineConnection.connect(str(path))
        except BaseException:
            lock.release()
            raise
        try:
            storage = cls(connection, path, busy_timeout_ms=busy_timeout_ms)
            storage._instance_lock = lock
            # journal_mode needs a lock for a moment when the file is new: waited for politely.
            await storage._retry_busy(lambda: connection.raw.execute("PRAGMA journal_mode = WAL"))
            connection.raw.execute("PRAGMA synchronous = NORMAL")
            connection.raw.execute("PRAGMA wal_autocheckpoint = 0")  # see CHECKPOINT_EVERY
            connection.raw.execute("PRAGMA foreign_keys = ON")
            await storage.migrate()
        except BaseException:
            connection.close()
            lock.release()
            raise
        return storage

    async def _retry_busy(self, statement: Callable[[], object]) -> None:
        """Run ``statement``; while another process holds the lock, try again until timeout."""
        deadline = time.monotonic() + self._busy_timeout
        pause = _BUSY_FIRST_PAUSE
        while True:
            try:
                statement()
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise StorageError(str(error)) from error
                if time.monotonic() >= deadline:
                    raise StorageBusy("the database is locked by another process") from error
            await asyncio.sleep(pause)
            pause = min(pause * 2, _BUSY_MAX_PAUSE)

    async def _begin(self) -> None:
        await self._retry_busy(lambda: self._db.raw.execute("BEGIN IMMEDIATE"))

    async def migrate(self) -> list[str]:
        """Apply every numbered migration not applied yet, each in its own transaction."""
        applied: list[str] = []
        raw = self._db.raw
        async with self._lock:
            await self._retry_busy(
                lambda: raw.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
            )
            done = {row[0] for row in raw.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                await self._begin()
                try:
                    for statement in _split_sql(sql):
                        raw.execute(statement)
                    raw.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at)"
                        " VALUES (?, ?, ?)",
                        (version, name, datetime.now(UTC).isoformat()),
                    )
                    raw.execute("COMMIT")
                except sqlite3.Error as error:
                    self._rollback()
                    raise MigrationError(f"migration {name} failed: {error}") from error
                logger.info("applied migration %s", name)
                applied.append(name)
        return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteStoreSession]:
        """One serialized read-write transaction; commits on success, rolls back on any
        exception (cancellation included)."""
        async with self._lock:
            if self._db.in_transaction:
                self._rollback()  # cannot happen with inline statements; kept as a guard
            await self._begin()
            session = SqliteStoreSession(self._db, self.outbox_lease)
            try:
                yield session
            except BaseException:
                self._rollback()
                raise
            try:
                self._db.raw.execute("COMMIT")
            except sqlite3.OperationalError as error:
                self._rollback()
                if _is_busy(error):
                    raise StorageBusy("the database is locked by another process") from error
                raise StorageError(str(error)) from error
            session.committed()
            self._commits += 1
            if self._commits >= CHECKPOINT_EVERY and self._checkpoint_task is None:
                self._commits = 0
                self._checkpoint_task = asyncio.create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        """A passive checkpoint in a worker thread: it copies what no reader still needs and
        never waits for (or blocks) the writer."""
        try:
            await asyncio.to_thread(self._checkpoint_now)
        except sqlite3.Error as error:
            logger.warning("WAL checkpoint failed: %s", error)
        finally:
            self._checkpoint_task = None

    def _checkpoint_now(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def probe_write(self) -> None:
        """A real write, committed and harmless: the newest migration's row rewritten as it is
        (``DatabaseHealth``). Waits for another process's write lock like any transaction."""
        async with self.transaction():
            self._db.raw.execute(
                "UPDATE schema_migrations SET applied_at = applied_at"
                " WHERE version = (SELECT MAX(version) FROM schema_migrations)"
            )

    async def schema_version(self) -> int:
        """The newest migration applied to this database (``DatabaseHealth``)."""
        row = self._db.raw.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def known_schema_version(self) -> int:
        """The newest migration this code knows (``DatabaseHealth``)."""
        return known_schema_version()

    def leader_lock(self, name: str) -> SqliteLeaderLock:
        """An exclusive ``flock`` on ``<database>.<name>.leader`` (see
        :mod:`storage.sqlite.leader`)."""
        return SqliteLeaderLock(None if str(self.path) == ":memory:" else self.path, name)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqliteStoreSession]:
        """A consistent read-only view for long queries, run off the event loop.

        Writing through it fails (``query_only``); it sees what was committed when it began.
        """
        async with self._reader_lock:
            reader = await self._open_reader()
            await reader.execute("BEGIN")
            # A deferred transaction takes its snapshot at its first read: take it now.
            await reader.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            try:
                yield SqliteStoreSession(reader, self.outbox_lease)
            finally:
                with contextlib.suppress(sqlite3.Error):
                    await asyncio.shield(reader.execute("ROLLBACK"))

    async def _open_reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            reader = await aiosqlite.connect(str(self.path), isolation_level=None)
            try:
                reader.row_factory = sqlite3.Row
                await reader.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                await reader.execute("PRAGMA query_only = ON")
            except BaseException:
                await reader.close()
                raise
            self._reader = reader
        return self._reader

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):
            self._db.raw.execute("ROLLBACK")

    async def backup(self, target: Path) -> BackupResult:
        """A consistent, checked copy of the live database at ``target``, written in a worker
        thread on connections of its own while transactions go on (see
        :mod:`storage.sqlite.backup`)."""
        return await asyncio.to_thread(copy_database, self.path, target)

    async def checkpoint(self) -> CheckpointResult:
        """Copy the WAL into the database and truncate it to 0 bytes, in a worker thread.

        Transactions of this process wait for it (the write lock is held), which is no longer
        than ``TRUNCATE_BUSY_TIMEOUT_MS`` plus the copy; call it outside a transaction.
        """
        async with self._lock:
            return await asyncio.to_thread(
                checkpoint_wal, self.path, busy_timeout_ms=TRUNCATE_BUSY_TIMEOUT_MS
            )

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            await self._checkpoint_task
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        async with self._reader_lock:
            if self._reader is not None:
                await self._reader.close()
                self._reader = None
        try:
            async with self._lock:
                self._db.close()
        finally:
            if self._instance_lock is not None:
                self._instance_lock.release()
                self._instance_lock = None


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
