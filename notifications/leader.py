"""Leader election: one instance of a deployment at a time delivers the outbox and ticks the
scheduled jobs (invariant 8); the others are followers, ready to take over.

Several bot instances may run behind one webhook URL on one PostgreSQL database. Each takes
part in the election; the leader holds the deployment's leader lock (``storage.leader``: a
session advisory lock on a connection of its own on PostgreSQL, a file lock on SQLite) and
runs the delivery worker and the scheduler. One active delivery worker, elected by advisory
lock with fail-over, also keeps the platforms' rate limits (``notifications.limits``, counted
in the worker's process) deployment-wide. The replies to updates are not part of it: each
instance sends the answers to the updates it took (``notifications.replies``).

Timing, with ``timeout`` = ``LEADER_TIMEOUT``, ``step`` = ``timeout / 5``:

* a follower tries the lock every ``step``;
* the leader checks every ``step`` that its lock's connection still answers (within ``step``);
  an error or no answer means the server may have released the lock: it stops acting as leader
  at once (the scheduler stops, the worker finishes what it is sending) and competes again;
* a follower that takes over from a leader it saw holding the lock waits ``2 * step`` before it
  acts, the time the old leader needs to notice that its connection is gone.

So when the leader dies (a SIGKILL closes its connection and the server drops the lock at
once) or its connection is cut, another instance leads within ``3 * step`` plus a connection
attempt, inside ``LEADER_TIMEOUT``. An old leader that is alive but frozen longer than that may
overlap a new one for a moment: the outbox rows are still claimed once (row locks, leases) and
every job is idempotent, so the cost is at most a burst beyond the rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from storage.leader import LeaderLock

__all__ = ["LeaderElection", "Role"]

logger = logging.getLogger(__name__)


class Role(StrEnum):
    """What this instance does about the deployment-wide jobs (``/readyz``, ``/metrics``)."""

    LEADER = "leader"  # delivers the outbox and ticks the jobs
    FOLLOWER = "follower"  # waits to take over; idle by design
    STARTING = "starting"  # elected, waiting for the old leader to notice that it lost


class LeaderElection:
    """Runs ``on_elected`` when this instance becomes the leader and ``on_deposed`` when it
    stops being one (its lock's connection is lost, or at ``close``)."""

    def __init__(
        self,
        lock: LeaderLock,
        *,
        timeout: float,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        name: str = "delivery",
    ) -> None:
        if timeout <= 0:
            raise ValueError("the leader timeout must be positive")
        self.lock = lock
        self.timeout = timeout
        self.step = timeout / 5
        self.name = name
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.role = Role.FOLLOWER
        self.terms = 0  # how many times this instance became the leader
        self._seen_other = False  # another instance held the lock while we asked
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def is_leader(self) -> bool:
        return self.role is Role.LEADER

    @property
    def running(self) -> bool:
        """The election loop is alive (``/readyz`` of a follower)."""
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        """A first try at once (a single instance leads from its start, without waiting a
        step), then the loop in the background."""
        await self.step_once()
        self.task = asyncio.create_task(self._loop(), name=f"leader-{self.name}")

    async def step_once(self) -> None:
        """One round: a follower tries to take the lock; the leader checks that it still has
        it. (The loop calls this every ``step``; tests call it directly.)"""
        if self.role is Role.FOLLOWER:
            if not await self._try_acquire():
                self._seen_other = True
                return
            self.role = Role.STARTING
            if self._seen_other:
                logger.info(
                    "leader lock %r taken over; acting as leader in %.1f s",
                    self.name,
                    2 * self.step,
                )
                if await self._wait(2 * self.step) or not await self._still_held():
                    self.role = Role.FOLLOWER
                    if not self._stop.is_set():
                        logger.warning("leader lock %r lost while taking over", self.name)
                    else:
                        await self.lock.release()
                    return
            self.role = Role.LEADER
            self.terms += 1
            logger.info("this instance is the leader (%r): delivering and scheduling", self.name)
            await self._on_elected()
            return
        if self.role is Role.LEADER and not await self._still_held():
            logger.warning(
                "leader lock %r lost (its database connection is gone): stepping down",
                self.name,
            )
            await self._depose()

    async def close(self) -> None:
        """Stop electing; a leader stops its jobs and gives the lock up."""
        self._stop.set()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.role is Role.LEADER:
            await self._depose()
        self.role = Role.FOLLOWER
        await self.lock.release()

    async def _loop(self) -> None:
        while not self._stop.is_set():
            if await self._wait(self.step):
                return
            try:
                await self.step_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A loop boundary: the election must go on whatever one round met.
                logger.exception("leader election round failed")

    async def _depose(self) -> None:
        self.role = Role.FOLLOWER
        self._seen_other = True
        try:
            await self._on_deposed()
        finally:
            await self.lock.release()

    async def _try_acquire(self) -> bool:
        try:
            return await asyncio.wait_for(self.lock.try_acquire(), self.step * 2)
        except TimeoutError:
            # The server may have granted it as the wait ran out: give it up (a dropped
            # connection releases it) rather than hold a lock nobody acts on.
            await self.lock.release()
            return False

    async def _still_held(self) -> bool:
        try:
            return await asyncio.wait_for(self.lock.still_held(), self.step)
        except TimeoutError:
            return False

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless closed first; True when closed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()
