"""The leader lock: one process of a deployment at a time runs the delivery worker and the
scheduled jobs (invariant 8), the others wait to take over (``notifications.leader``).

A lock belongs to a process's connection or open file, never to a row with a timestamp: when
the holder dies (a SIGKILL included) the database server or the kernel drops the lock at once,
and the next process to ask gets it. PostgreSQL: a session advisory lock on a connection of its
own (``storage.postgres.leader``); SQLite: an exclusive ``flock`` on ``<database>.leader``
(``storage.sqlite.leader``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["LeaderLock"]


class LeaderLock(Protocol):
    """A named lock one process of the deployment holds at a time."""

    async def try_acquire(self) -> bool:
        """Take the lock without waiting; False while another process holds it (or the
        database cannot be reached)."""
        ...

    async def still_held(self) -> bool:
        """Whether the lock is still this process's: False once the connection that held it
        is gone (the server has released the lock, another process may take it)."""
        ...

    async def release(self) -> None:
        """Give the lock up (nothing when not held)."""
        ...
