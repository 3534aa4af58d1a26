"""The scheduled jobs and the APScheduler 3.x scheduler that only ticks them (invariant 8).

What is due lives in the database (resolutions without a follow-up, missed deadlines without an
escalation, a day without a digest); each tick reads it, acts in a transaction and records what it
did, so every job is idempotent and a tick that runs twice, late or after a restart does the right
thing once. Time comes from the injected clock: jobs call ``clock.now()``; APScheduler's own
timing only decides *when to look*.

The same scheduler ticks the database's upkeep (``notifications.maintenance``): retention and
the daily backup at ``BACKUP_TIME``, and an hourly truncating WAL checkpoint.

One scheduler per deployment: APScheduler 3.x cannot coordinate several processes, and two
would only race for the same (idempotent) work. With several instances, the one elected by the
leader lock runs it (``notifications.leader``); a new leader starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

# APScheduler 3.x ships no type information.
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from domain.clock import Clock
from notifications.digest import DigestJob
from notifications.maintenance import BackupJob, RetentionJob, checkpoint
from services.deadlines import DeadlineWatch
from services.followups import FollowupService
from storage.base import Storage
from storage.maintenance import DatabaseMaintenance

__all__ = ["NotificationJobs", "NotificationScheduler"]

logger = logging.getLogger(__name__)

# Keys of processed deliveries are kept this long: Telegram gives up redelivering an update after
# 24 hours and Viber retries for minutes, so a week is ample; without pruning the table would
# gain a row for every message forever.
KEEP_UPDATE_KEYS = timedelta(days=7)
PRUNE_CHUNK = 2000


class NotificationJobs:
    """The ticks, each in its own short transaction (any may be None when not configured)."""

    def __init__(
        self,
        storage: Storage,
        *,
        followups: FollowupService | None = None,
        deadlines: DeadlineWatch | None = None,
        digest: DigestJob | None = None,
        clock: Clock | None = None,
        retention: RetentionJob | None = None,
        backup: BackupJob | None = None,
        database: DatabaseMaintenance | None = None,
    ) -> None:
        self.storage = storage
        self.followups = followups
        self.deadlines = deadlines
        self.digest = digest
        self.clock = clock
        self.retention = retention
        self.backup = backup
        self.database = database
        self.ticks: dict[str, int] = {
            "followups": 0,
            "deadlines": 0,
            "digest": 0,
            "prune": 0,
            "maintenance": 0,
            "checkpoint": 0,
        }

    async def followups_tick(self) -> int:
        """Ask, remind, and reopen unexplained "Ні" answers; returns how much was done."""
        self.ticks["followups"] += 1
        if self.followups is None:
            return 0
        done = 0
        async with self.storage.transaction() as session:
            done += await self.followups.ask_due(session)
        async with self.storage.transaction() as session:
            done += await self.followups.remind_due(session)
        async with self.storage.transaction() as session:
            done += await self.followups.reopen_unexplained(session)
        return done

    async def deadlines_tick(self) -> int:
        self.ticks["deadlines"] += 1
        if self.deadlines is None:
            return 0
        async with self.storage.transaction() as session:
            return await self.deadlines.escalate_due(session)

    async def digest_tick(self) -> bool:
        self.ticks["digest"] += 1
        if self.digest is None:
            return False
        return await self.digest.tick()

    async def prune_tick(self) -> int:
        """Forget processed-update keys older than ``KEEP_UPDATE_KEYS``, a chunk per short
        transaction, so a backlog of millions never holds up residents' messages."""
        self.ticks["prune"] += 1
        if self.clock is None:
            return 0
        before = self.clock.now() - KEEP_UPDATE_KEYS
        pruned = 0
        while True:
            async with self.storage.transaction() as session:
                count = await session.updates.prune(before=before, limit=PRUNE_CHUNK)
            pruned += count
            if count < PRUNE_CHUNK:
                break
            await asyncio.sleep(0)  # let waiting messages in between chunks
        if pruned:
            logger.info("forgot %d processed update keys", pruned)
        return pruned

    async def maintenance_tick(self) -> None:
        """The daily upkeep once its time has come: retention first (so the copy holds nothing
        older than the limit), then the backup; a failure of one does not stop the other."""
        self.ticks["maintenance"] += 1
        if self.retention is not None:
            try:
                await self.retention.tick()
            except Exception:
                logger.exception("retention failed")
        if self.backup is not None:
            await self.backup.tick()

    async def checkpoint_tick(self) -> bool:
        """A truncating WAL checkpoint, so the -wal file does not grow for ever."""
        self.ticks["checkpoint"] += 1
        if self.database is None:
            return False
        return await checkpoint(self.database)

    async def run_all(self) -> None:
        """Every tick once (tests, tools)."""
        await self.followups_tick()
        await self.deadlines_tick()
        await self.digest_tick()
        await self.prune_tick()
        await self.maintenance_tick()
        await self.checkpoint_tick()


class NotificationScheduler:
    """``AsyncIOScheduler`` on the running loop, ticking the jobs every few seconds."""

    def __init__(
        self,
        jobs: NotificationJobs,
        *,
        tick_seconds: float = 5.0,
        digest_seconds: float = 60.0,
        prune_seconds: float = 3600.0,
        maintenance_seconds: float = 60.0,
        checkpoint_seconds: float = 3600.0,
    ) -> None:
        self.jobs = jobs
        self.tick_seconds = tick_seconds
        self.digest_seconds = digest_seconds
        self.prune_seconds = prune_seconds
        self.maintenance_seconds = maintenance_seconds
        self.checkpoint_seconds = checkpoint_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        """Start ticking on the running event loop (call from inside it)."""
        if self._scheduler is not None:
            raise RuntimeError("the notification scheduler is already started")
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        every = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        scheduler.add_job(
            self._guarded("followups", self.jobs.followups_tick),
            IntervalTrigger(seconds=self.tick_seconds),
            id="followups",
            **every,
        )
        scheduler.add_job(
            self._guarded("deadlines", self.jobs.deadlines_tick),
            IntervalTrigger(seconds=self.tick_seconds),
            id="deadlines",
            **every,
        )
        scheduler.add_job(
            self._guarded("prune", self.jobs.prune_tick),
            IntervalTrigger(seconds=self.prune_seconds),
            id="prune",
            **every,
        )
        scheduler.add_job(
            self._guarded("digest", self.jobs.digest_tick),
            IntervalTrigger(seconds=self.digest_seconds),
            id="digest",
            **every,
        )
        scheduler.add_job(
            self._guarded("maintenance", self.jobs.maintenance_tick),
            IntervalTrigger(seconds=self.maintenance_seconds),
            id="maintenance",
            **every,
        )
        scheduler.add_job(
            self._guarded("checkpoint", self.jobs.checkpoint_tick),
            IntervalTrigger(seconds=self.checkpoint_seconds),
            id="checkpoint",
            **every,
        )
        scheduler.start()
        self._scheduler = scheduler
        logger.info("notification scheduler started (tick %.1f s)", self.tick_seconds)

    @property
    def running(self) -> bool:
        """Started and not shut down (``/readyz``)."""
        return self._scheduler is not None and bool(self._scheduler.running)

    async def shutdown(self) -> None:
        """Stop ticking and wait for a tick in progress to finish its transaction."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _guarded(
        self, name: str, job: Callable[[], Awaitable[object]]
    ) -> Callable[[], Awaitable[None]]:
        async def safe() -> None:
            try:
                await job()
            except Exception:
                # A loop boundary: the next tick tries again; what is due is still in the DB.
                logger.exception("scheduled job %s failed", name)

        async def run() -> None:
            # APScheduler cancels running jobs when it shuts down; a cancellation in the middle
            # of a transaction must not happen, so the tick runs as its own task (kept in
            # _running, awaited by shutdown) and only this wrapper is cancelled.
            task = asyncio.ensure_future(safe())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

        run.__name__ = f"tick_{name}"
        return run
