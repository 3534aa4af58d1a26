"""The running delivery worker and scheduler of one process, started and stopped together.

Built by the composition root (``bot.compose.create_notifier``) for every mode: the
messengers, the console, and ``python -m bot worker`` (delivery and scheduled jobs only, no
incoming updates; the crash test runs it as a separate process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from notifications.limits import ChatRateLimiter
from notifications.scheduler import NotificationJobs, NotificationScheduler
from notifications.worker import OutboxWorker

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # how long a graceful stop waits for the sends in flight


@dataclass
class Notifier:
    """The running worker and scheduler; ``close`` stops both gracefully."""

    worker: OutboxWorker
    jobs: NotificationJobs
    scheduler: NotificationScheduler | None
    limiter: ChatRateLimiter
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def worker_running(self) -> bool:
        """The delivery worker's task is alive (``/readyz``)."""
        return self.task is not None and not self.task.done()

    @property
    def scheduler_running(self) -> bool:
        """The scheduler ticks (``/readyz``); a notifier built without one never does."""
        return self.scheduler is not None and self.scheduler.running

    async def start(self) -> None:
        """Recover what a killed process left in flight, then deliver and tick. Awaited before
        any update is taken: replies committed from then on are SENDING by their sender, and a
        later recovery would send them twice."""
        await self.worker.recover()
        self.task = asyncio.create_task(self.worker.run(recover=False), name="outbox-worker")
        if self.scheduler is not None:
            self.scheduler.start()

    async def close(self) -> None:
        """Stop ticking, let the sends in flight finish (so nothing is left "maybe sent"),
        then close the worker's own Bot session."""
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
        for close in self.closers:
            await close()
