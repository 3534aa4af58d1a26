"""The instance lock: who has the database open, so a restore can refuse while the bot runs.

Every process that opens the database (``python -m bot``, ``python -m bot worker``, the content
editors' ``python -m faq unanswered``...) holds a SHARED ``flock`` on ``<database>.lock`` for as
long as it has the database open: :meth:`SqliteStorage.open
<storage.sqlite.database.SqliteStorage.open>` takes it and ``close`` gives it back, and
:func:`hold_instance_lock` holds it around anything else. Several processes share one database,
so shared locks never conflict with each other. ``python -m bot restore`` takes the lock
EXCLUSIVE and non-blocking: it gets it only when nobody has the database open, and while it
holds it (for the moment of swapping the files) a starting bot waits a little and then stops
with a clear message instead of opening a file that is being replaced.

``flock`` locks belong to an open file description: the kernel drops them when the process
dies (a SIGKILL leaves no stale lock behind), and two descriptors opened in one process lock
against each other like two processes do. The lock file itself is empty and stays.

In-memory databases and URLs that name no file have nothing to protect: the lock is a no-op.
On Windows (no ``flock``) it is a no-op too; the deployment targets are Linux.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from storage.errors import StorageBusy
from storage.url import sqlite_path

if sys.platform != "win32":
    import fcntl

__all__ = ["InstanceLock", "database_file", "hold_instance_lock", "lock_path", "try_flock"]

_MEMORY = ":memory:"
_PREFIX = "sqlite:///"
_FIRST_PAUSE = 0.01
_MAX_PAUSE = 0.25


def lock_path(database: Path) -> Path:
    """``<database file>.lock`` beside the database."""
    return database.with_name(database.name + ".lock")


def database_file(database_url: str, *, base: Path | None = None) -> Path | None:
    """The SQLite file ``DATABASE_URL`` names; None for in-memory and non-SQLite URLs."""
    if not database_url.startswith(_PREFIX):
        return None
    rest = database_url[len(_PREFIX) :]
    if rest in ("", "/", _MEMORY) or rest.startswith(("file:", _MEMORY + "?")):
        return None
    return sqlite_path(database_url, base=base)


def try_flock(path: Path, *, exclusive: bool) -> int | None:
    """An open descriptor of ``path`` holding a ``flock`` (shared or exclusive), taken without
    waiting; None when another holder prevents it. Closing the descriptor releases the lock,
    and so does the holder's death (SIGKILL included). POSIX only."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


class InstanceLock:
    """A ``flock`` on ``<database>.lock``: shared by the bot's processes, exclusive for restore.

    ``database`` None (in memory, no file) makes every operation succeed without locking.
    Usable as an async context manager that holds the shared lock.
    """

    def __init__(self, database: Path | None, *, timeout: float = 10.0) -> None:
        self.path = (
            lock_path(database) if database is not None and str(database) != _MEMORY else None
        )
        self.timeout = timeout
        self._descriptor: int | None = None
        self.exclusive = False

    @property
    def held(self) -> bool:
        return self._descriptor is not None or self.path is None

    def try_acquire(self, *, exclusive: bool = False) -> bool:
        """Take the lock without waiting; False when another holder prevents it."""
        if self._descriptor is not None:
            raise RuntimeError("this instance lock is already held")
        if self.path is None or sys.platform == "win32":
            return True
        descriptor = try_flock(self.path, exclusive=exclusive)
        if descriptor is None:
            return False
        self._descriptor = descriptor
        self.exclusive = exclusive
        return True

    async def acquire_shared(self) -> None:
        """Take the shared lock, waiting up to ``timeout`` seconds while a restore holds it
        exclusively (without blocking the event loop); :class:`StorageBusy` after that."""
        deadline = time.monotonic() + self.timeout
        pause = _FIRST_PAUSE
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise StorageBusy(
                    f"the database is being restored ({self.path} is locked exclusively);"
                    " start the bot again when the restore has finished"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            # Closing the descriptor drops the lock (flock locks live on the open file).
            os.close(descriptor)

    async def __aenter__(self) -> InstanceLock:
        await self.acquire_shared()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@contextlib.asynccontextmanager
async def hold_instance_lock(
    database_url: str, *, base: Path | None = None, wait: float = 10.0
) -> AsyncIterator[InstanceLock]:
    """Hold the shared instance lock of the database ``DATABASE_URL`` names while inside.

    ``SqliteStorage.open`` takes it already; this is for holding it over a whole process (from
    before the database is opened until after it is closed) or for tools that open the file
    some other way. ``wait``: how long to wait while a restore holds the lock exclusively.
    """
    async with InstanceLock(database_file(database_url, base=base), timeout=wait) as lock:
        yield lock
