"""The delivery worker and scheduler of one process, started and stopped together, and run
only while this instance is the deployment's elected leader (``notifications.leader``).

Built by the composition root (``bot.compose.create_notifier``) for every mode that delivers:
the messengers, the console, and ``python -m bot worker`` (delivery and scheduled jobs only, no
incoming updates; the crash test runs it as a separate process). ``python -m bot web`` builds
none. Several instances on one database elect one active delivery worker by advisory lock,
with fail-over: the platforms' rate limits (``notifications.limits``) are counted in that one
process, so they hold for the whole deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from notifications.leader import LeaderElection, Role
from notifications.limits import ChatRateLimiter
from notifications.scheduler import NotificationJobs, NotificationScheduler
from notifications.worker import OutboxWorker
from storage.leader import LeaderLock

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # how long a graceful stop waits for the sends in flight


@dataclass
class Notifier:
    """The worker and scheduler, run while ``election`` makes this instance the leader (always,
    without an election); ``close`` stops both gracefully."""

    worker: OutboxWorker
    jobs: NotificationJobs
    scheduler: NotificationScheduler | None
    limiter: ChatRateLimiter
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    # The deployment's leader lock (``Storage.leader_lock``); None: this process always leads.
    leader_lock: LeaderLock | None = None
    leader_timeout: float = 15.0  # LEADER_TIMEOUT
    election: LeaderElection | None = field(default=None, init=False)

    @property
    def role(self) -> str:
        """``leader`` or ``follower`` (``starting`` while taking over): ``/readyz``."""
        return self.election.role.value if self.election is not None else Role.LEADER.value

    @property
    def election_running(self) -> bool:
        """A follower is only ready while it keeps competing for the lead."""
        return self.election is None or self.election.running

    @property
    def worker_running(self) -> bool:
        """The delivery worker's task is alive (``/readyz``)."""
        return self.task is not None and not self.task.done()

    @property
    def scheduler_running(self) -> bool:
        """The scheduler ticks (``/readyz``); a notifier built without one never does."""
        return self.scheduler is not None and self.scheduler.running

    async def start(self) -> None:
        """Take part in the election (a single instance leads at once) or, without one, lead.

        Recovery takes back only messages whose lease ran out, never the replies another live
        instance (or this one) is sending, so updates may be taken before or after it."""
        if self.leader_lock is None:
            await self._lead()
            return
        self.election = LeaderElection(
            self.leader_lock,
            timeout=self.leader_timeout,
            on_elected=self._lead,
            on_deposed=self._step_down,
        )
        await self.election.start()

    async def _lead(self) -> None:
        """Recover what a dead sender left (expired leases), then deliver and tick."""
        try:
            await self.worker.recover()
        except Exception:
            # The running worker looks for expired leases again every few seconds.
            logger.exception("outbox recovery failed; the worker tries again while running")
        self.worker.reset()
        self.task = asyncio.create_task(self.worker.run(recover=False), name="outbox-worker")
        if self.scheduler is not None:
            self.scheduler.start()

    async def _step_down(self) -> None:
        """Stop ticking, let the sends in flight finish (their leases stay this process's)."""
        if self.scheduler is not None:
            await self.scheduler.shutdown()
        self.worker.stop()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), STOP_TIMEOUT)
            except TimeoutError:
                logger.warning("outbox worker did not stop in time; cancelling it")
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task

    async def close(self) -> None:
        """Stop ticking, let the sends in flight finish (so nothing is left "maybe sent"),
        give the lead up, then close the worker's own Bot session."""
        if self.election is not None:
            await self.election.close()  # steps down (``_step_down``) when leading
        else:
            await self._step_down()
        for close in self.closers:
            await close()
