"""The connection the stores talk to, and the inline one that short transactions run on.

The stores are written against :class:`Connection`, the part of aiosqlite's API they use
(``execute`` awaited or used as ``async with``, ``execute_fetchall``, ``executemany``), so they
run unchanged on either of the two connections :class:`~storage.sqlite.database.SqliteStorage`
keeps:

* :class:`InlineConnection`, a plain :mod:`sqlite3` connection whose statements run at once on
  the event loop's thread, for the short read-write transactions of every message and job;
* an ``aiosqlite.Connection`` for long read-only queries (statistics, exports), which must not
  stall the loop.

Why not aiosqlite for everything: it runs each statement on its own thread and hands the result
back through the event loop, so every statement waits for a full loop iteration. Transactions
are serialized (SQLite has one writer), and under load an iteration takes milliseconds: measured
with ``python -m bench --only webhook`` on 2 cores, 6 statements a message capped the whole bot
at 120-200 messages a second with the loop mostly idle. A short transaction runs in well under a
millisecond of CPU when it is simply executed (WAL with ``synchronous=NORMAL`` does not fsync on
commit), so for these the thread costs far more than it saves. No library offers this
aiosqlite-shaped synchronous wrapper; it is a few lines over :mod:`sqlite3`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable
from types import TracebackType
from typing import Any, Protocol

__all__ = ["Connection", "Cursor", "InlineConnection", "InlineCursor"]


class Cursor(Protocol):
    """What the stores read off an executed statement."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> sqlite3.Row | None: ...

    async def fetchall(self) -> Iterable[sqlite3.Row]: ...


class Executed(Protocol):
    """An executed statement: awaited for its cursor, or entered to close the cursor after."""

    def __await__(self) -> Generator[Any, None, Cursor]: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Connection(Protocol):
    """The statements the stores run (aiosqlite's names, so either connection fits)."""

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Executed: ...

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> Iterable[sqlite3.Row]: ...

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor: ...


class InlineCursor:
    """A finished :class:`sqlite3.Cursor` behind the async cursor API (nothing here waits)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._cursor.fetchone()
        return row

    async def fetchall(self) -> list[sqlite3.Row]:
        return self._cursor.fetchall()

    def close(self) -> None:
        self._cursor.close()


class _Done:
    """A statement that already ran: ``await`` gives its cursor, ``async with`` closes it."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: InlineCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._result().__await__()

    async def _result(self) -> InlineCursor:
        return self._cursor

    async def __aenter__(self) -> InlineCursor:
        return self._cursor

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cursor.close()


class InlineConnection:
    """A :mod:`sqlite3` connection with aiosqlite's method names, running statements inline.

    Meant for short statements only: each call blocks the event loop while SQLite works.
    Created and used on the event loop's thread.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.raw = connection

    @classmethod
    def connect(cls, path: str) -> InlineConnection:
        # timeout=0: no busy wait inside SQLite (it would block the loop); the storage retries.
        connection = sqlite3.connect(path, isolation_level=None, timeout=0)
        connection.row_factory = sqlite3.Row
        return cls(connection)

    def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _Done:
        cursor = self.raw.execute(sql, tuple(parameters) if parameters is not None else ())
        return _Done(InlineCursor(cursor))

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None
    ) -> list[sqlite3.Row]:
        return self.raw.execute(sql, tuple(parameters) if parameters is not None else ()).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> InlineCursor:
        return InlineCursor(self.raw.executemany(sql, (tuple(row) for row in parameters)))

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.raw.close()
