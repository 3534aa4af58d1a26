"""The leader lock on SQLite: an exclusive ``flock`` on ``<database>.<name>.leader``.

Usually one process has a SQLite file open and simply leads. But ``python -m bot`` and
``python -m bot worker`` may share one file, and then exactly one of them must deliver the
outbox and tick the jobs: the first to take the lock leads, the other tries again every few
seconds. A file lock rather than a row in the database: the kernel drops it the moment its
holder dies (SIGKILL included), so fail-over needs no timestamps, and it cannot be lost while
the process lives (no connection to drop). In-memory databases and Windows (no ``flock``)
always lead: nothing else can share them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from storage.sqlite.instance import try_flock

__all__ = ["SqliteLeaderLock"]


class SqliteLeaderLock:
    """A named exclusive file lock beside the database; see the module docstring."""

    def __init__(self, database: Path | None, name: str) -> None:
        self.name = name
        self.path = database.with_name(f"{database.name}.{name}.leader") if database else None
        self._descriptor: int | None = None
        self.held = False

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.path is None or sys.platform == "win32":
            self.held = True
            return True
        descriptor = try_flock(self.path, exclusive=True)
        if descriptor is None:
            return False
        self._descriptor = descriptor
        self.held = True
        return True

    async def still_held(self) -> bool:
        # A flock lasts as long as its open file: only this process can give it up.
        return self.held

    async def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        self.held = False
        if descriptor is not None:
            os.close(descriptor)
