"""The PostgreSQL backend: a connection pool, numbered migrations under an advisory lock.

Transactions: each :meth:`PostgresStorage.transaction` borrows a pooled connection and runs
``BEGIN`` .. ``COMMIT`` (READ COMMITTED). Unlike SQLite's one writer at a time, transactions
run concurrently, up to ``DATABASE_POOL_SIZE`` of them, in one process as across processes on
one database; so what is read and written back is locked first: the resident's advisory lock
(``PostgresStoreSession.lock_resident``, always taken before any row lock), then the rows
(``RequestStore.lock``: ``SELECT … FOR UPDATE``), or decided by a unique key with
``ON CONFLICT``. Snapshots (``REPEATABLE READ READ ONLY``) take no locks: statistics and
exports run on a pooled connection of their own while residents' messages go on. A
transaction waiting longer than the pool's timeout for a free connection is ``StorageBusy``.

Busy: a statement that waits for a lock longer than ``busy_timeout_ms`` (``lock_timeout``), a
serialization failure and a deadlock are raised as :class:`~storage.errors.StorageBusy`, as
SQLite's locked database is; nothing was changed and the caller may try again.

Maintenance: there is no file to copy and no WAL to checkpoint; this class is not a
``DatabaseMaintenance`` (back PostgreSQL up with ``pg_dump``: README, "PostgreSQL").
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import (
    ConfigurationError,
    DatabaseUnreachable,
    MigrationError,
    StorageBusy,
    StorageError,
)
from storage.outbox import OutboxLease, new_lease_owner
from storage.postgres.connection import Connection
from storage.postgres.leader import PostgresLeaderLock
from storage.postgres.session import PostgresStoreSession
from storage.postgres.text import register_nul_free_text

logger = logging.getLogger(__name__)

__all__ = ["PostgresStorage", "known_schema_version", "open_postgres"]

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

# One key for "migrating this schema": two instances starting at once take turns, and the
# second finds everything applied. hashtext() of the schema's name keeps schemas apart.
_MIGRATION_LOCK = "SELECT pg_advisory_lock(hashtext('contact-center-migrate:' || current_schema()))"
_MIGRATION_UNLOCK = (
    "SELECT pg_advisory_unlock(hashtext('contact-center-migrate:' || current_schema()))"
)

# SQLSTATE classes that mean "someone else held it; nothing was changed, try again".
_BUSY = (
    pg_errors.LockNotAvailable,  # 55P03: lock_timeout
    pg_errors.SerializationFailure,  # 40001
    pg_errors.DeadlockDetected,  # 40P01
)

DEFAULT_POOL_SIZE = 5


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("storage.postgres") / "migrations"
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


def _where(url: str) -> str:
    """``host:port/dbname`` of a URL, for messages (never the password)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured server"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


class PostgresStorage:
    """PostgreSQL behind the ``Storage`` and ``DatabaseHealth`` contracts."""

    def __init__(self, pool: AsyncConnectionPool[Connection], *, where: str, url: str = "") -> None:
        self._pool = pool
        self.where = where
        self._url = url
        # What this process claims in the outbox is leased to it (a new owner per process).
        self.outbox_lease = OutboxLease(new_lease_owner())

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        busy_timeout_ms: int = 5000,
        connect_timeout: float = 10.0,
    ) -> PostgresStorage:
        """Connect (failing with one clear :class:`DatabaseUnreachable` when the server cannot
        be reached) and apply the migrations not applied yet."""
        if pool_size < 2:
            # A snapshot holds one connection while a transaction may need another.
            raise ConfigurationError("DATABASE_POOL_SIZE must be at least 2")
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise ConfigurationError(f"DATABASE_URL is not a PostgreSQL URL: {error}") from error
        where = _where(url)
        timeout = max(int(busy_timeout_ms), 1)

        async def configure(connection: Connection) -> None:
            register_nul_free_text(connection)
            await connection.execute("SET TIME ZONE 'UTC'")
            await connection.execute(f"SET lock_timeout = {timeout}")

        # One plain connection first: an unreachable server or a refused login is reported
        # with libpq's own reason (the pool would only say that it timed out).
        try:
            probe = await psycopg.AsyncConnection.connect(
                url, connect_timeout=max(int(connect_timeout), 1)
            )
        except psycopg.OperationalError as error:
            reason = " ".join(str(error).split())
            raise DatabaseUnreachable(
                f"cannot connect to PostgreSQL at {where}: {reason}"
            ) from error
        await probe.close()
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=psycopg.AsyncConnection,
            configure=configure,
            open=False,
            timeout=connect_timeout,
            name="contact-center",
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except (PoolTimeout, psycopg.OperationalError) as error:
            await pool.close()
            raise DatabaseUnreachable(
                f"cannot connect to PostgreSQL at {where}: {error}"
            ) from error
        storage = cls(pool, where=where, url=url)
        try:
            await storage.migrate()
        except BaseException:
            await pool.close()
            raise
        return storage

    async def migrate(self) -> list[str]:
        """Apply every numbered migration not applied yet, each in its own transaction, under
        a session advisory lock: instances starting at once migrate once."""
        applied: list[str] = []
        async with self._pool.connection() as db:
            await db.execute(_MIGRATION_LOCK)
            try:
                await db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL)"
                )
                cursor = await db.execute("SELECT version FROM schema_migrations")
                done = {row["version"] for row in await cursor.fetchall()}
                for version, name, sql in _migrations():
                    if version in done:
                        continue
                    try:
                        async with db.transaction():
                            await db.execute(sql.encode())  # several statements, no parameters
                            await db.execute(
                                "INSERT INTO schema_migrations (version, name, applied_at)"
                                " VALUES (%s, %s, %s)",
                                (version, name, datetime.now(UTC)),
                            )
                    except psycopg.Error as error:
                        raise MigrationError(f"migration {name} failed: {error}") from error
                    logger.info("applied migration %s", name)
                    applied.append(name)
            finally:
                await db.execute(_MIGRATION_UNLOCK)
        return applied

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.connection() as db:
                yield db
        except PoolTimeout as error:
            raise StorageBusy(f"no free connection to PostgreSQL at {self.where}") from error

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresStoreSession]:
        """One read-write transaction; commits on success, rolls back on any exception
        (cancellation included). Concurrent with the others (see the module docstring)."""
        async with self._connection() as db:
            session = PostgresStoreSession(db, self.outbox_lease)
            try:
                async with db.transaction():
                    yield session
            except _BUSY as error:
                raise StorageBusy(f"PostgreSQL at {self.where} is busy: {error}") from error
            except psycopg.OperationalError as error:
                raise StorageError(f"PostgreSQL at {self.where}: {error}") from error
            session.committed()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresStoreSession]:
        """A consistent read-only view for long queries: it sees what was committed when it
        began, does not hold up transactions, and writing through it fails."""
        async with self._connection() as db:
            await db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            # The snapshot is taken at the first statement, not at BEGIN: take it now.
            await db.execute("SELECT 1")
            try:
                yield PostgresStoreSession(db, self.outbox_lease)
            finally:
                await asyncio.shield(db.execute("ROLLBACK"))

    async def probe_write(self) -> None:
        """A real write, committed and harmless: the newest migration's row rewritten as it is
        (``DatabaseHealth``)."""
        async with self.transaction() as session:
            await session.db.execute(
                "UPDATE schema_migrations SET applied_at = applied_at"
                " WHERE version = (SELECT MAX(version) FROM schema_migrations)"
            )

    async def schema_version(self) -> int:
        """The newest migration applied to this database (``DatabaseHealth``)."""
        async with self._connection() as db:
            cursor = await db.execute("SELECT MAX(version) AS version FROM schema_migrations")
            row = await cursor.fetchone()
        return int(row["version"]) if row is not None and row["version"] is not None else 0

    def known_schema_version(self) -> int:
        """The newest migration this code knows (``DatabaseHealth``)."""
        return known_schema_version()

    def leader_lock(self, name: str) -> PostgresLeaderLock:
        """A session advisory lock named ``name`` in this schema, on a connection of its own
        (outside the pool): see :mod:`storage.postgres.leader`."""
        return PostgresLeaderLock(self._url, name)

    async def close(self) -> None:
        await self._pool.close()


async def open_postgres(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> PostgresStorage:
    """Open the database that a ``postgresql://`` ``DATABASE_URL`` names, migrating it."""
    return await PostgresStorage.open(url, pool_size=pool_size)
