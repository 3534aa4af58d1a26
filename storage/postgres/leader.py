"""The leader lock on PostgreSQL: a session-level advisory lock on a dedicated connection.

``pg_try_advisory_lock`` belongs to the session that took it, so it lives exactly as long as
that connection: the holder's death (SIGKILL, a crash, a lost host) closes the connection and
the server releases the lock at once; ``pg_terminate_backend`` does the same. The connection is
a plain one of its own, in autocommit, outside the pool: a pooled connection is handed to
other work and reset, and a transaction-level lock would end with the transaction.

The holder checks the connection every few seconds (:meth:`still_held`, a round trip); an
error or no answer in time means the lock may be gone, and the caller stops acting as leader.
TCP keepalives make a half-open connection to a vanished server fail rather than hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

__all__ = ["PostgresLeaderLock"]

logger = logging.getLogger(__name__)

# hashtext() of the schema's name keeps deployments in different schemas of one database apart,
# like the migration lock (storage.postgres.database).
_KEY = "hashtext('contact-center-leader:' || %s || ':' || current_schema())"


class PostgresLeaderLock:
    """A named session advisory lock; see the module docstring."""

    def __init__(self, url: str, name: str, *, timeout: float = 5.0) -> None:
        self._url = url
        self.name = name
        self.timeout = timeout
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.held = False

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = self._connection
        if connection is None or connection.closed:
            connection = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(int(self.timeout), 1),
                application_name="contact-center-leader",
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
            self._connection = connection
        return connection

    async def try_acquire(self) -> bool:
        if self.held:
            return await self.still_held()
        try:
            connection = await asyncio.wait_for(self._connect(), self.timeout)
            cursor = await asyncio.wait_for(
                connection.execute(f"SELECT pg_try_advisory_lock({_KEY})", (self.name,)),
                self.timeout,
            )
            row = await cursor.fetchone()
        except (psycopg.Error, OSError, TimeoutError) as error:
            logger.warning("leader lock %r: database not reachable (%s)", self.name, error)
            await self._drop()
            return False
        self.held = bool(row and row[0])
        return self.held

    async def still_held(self) -> bool:
        connection = self._connection
        if not self.held or connection is None or connection.closed:
            self.held = False
            return False
        try:
            # The lock lives as long as the session: a round trip proves the session does.
            await asyncio.wait_for(connection.execute("SELECT 1"), self.timeout)
        except (psycopg.Error, OSError, TimeoutError) as error:
            logger.warning("leader lock %r: its connection is lost (%s)", self.name, error)
            self.held = False
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        connection = self._connection
        if self.held and connection is not None and not connection.closed:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(
                    connection.execute(f"SELECT pg_advisory_unlock({_KEY})", (self.name,)),
                    self.timeout,
                )
        self.held = False
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(connection.close(), self.timeout)

    async def backend_pid(self) -> int | None:
        """The server process of the lock's connection (tests terminate it)."""
        connection = self._connection
        if connection is None or connection.closed:
            return None
        return int(connection.info.backend_pid)
