"""Daily maintenance ticked by the scheduler: retention, the backup, WAL checkpoints.

* :class:`RetentionJob` (``RETENTION_DAYS``): once a day at ``BACKUP_TIME``, removes delivered
  outbox bodies, processed update keys and idle conversation state older than the limit,
  statistics unchanged (the policy is ``storage.retention``'s), a chunk per short transaction.
* :class:`BackupJob` (``BACKUP_DIR``, ``BACKUP_TIME``, ``BACKUP_KEEP``): once a day at
  ``BACKUP_TIME`` (city time), a consistent copy of the live database as
  ``BACKUP_DIR/bot-YYYYmmdd-HHMMSS.sqlite3``; the newest ``BACKUP_KEEP`` such files are kept,
  older ones of that name pattern deleted (nothing else in the directory is touched). Then a
  truncating WAL checkpoint.

Like the digest, both look at the injected clock on every tick and act once the day's moment
has come. What was done is on disk or in the database: a backup is "done today" when today's
file exists (a restart does not copy twice), and retention is idempotent (run again, it finds
nothing more), so a restart at worst repeats a cheap pass.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time as wall_time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

from domain.clock import Clock
from notifications.quiet import local_moment
from storage.base import Storage, StoreSession
from storage.maintenance import BackupError, BackupResult, DatabaseMaintenance

__all__ = [
    "BACKUP_NAME",
    "UPDATE_KEYS_FLOOR",
    "BackupJob",
    "BackupPlan",
    "RetentionJob",
    "RetentionReport",
    "backup_name",
]

logger = logging.getLogger(__name__)

BACKUP_NAME = re.compile(r"^bot-(\d{8})-(\d{6})\.sqlite3$")
# A copy that died with its process (SIGKILL mid-copy) leaves this behind; swept after an hour.
_STALE_TEMPORARY = re.compile(r"^\.bot-\d{8}-\d{6}\.sqlite3\.[0-9a-f]+\.tmp(-journal)?$")
_STALE_AFTER_SECONDS = 3600.0
# After a failed backup (disk full, directory gone) the next try waits this long, not a minute.
RETRY_FAILED_BACKUP = timedelta(minutes=30)

# Update keys are never forgotten sooner than this, whatever RETENTION_DAYS says: Telegram
# redelivers an update for up to 24 hours and Viber retries a callback for an hour, and a key
# forgotten too early lets a redelivery create a second request.
UPDATE_KEYS_FLOOR = timedelta(days=2)
RETENTION_CHUNK = 1000


def backup_name(moment: datetime, clock: Clock) -> str:
    """``bot-YYYYmmdd-HHMMSS.sqlite3`` in the city's time."""
    return f"bot-{moment.astimezone(clock.tz):%Y%m%d-%H%M%S}.sqlite3"


@dataclass(frozen=True, slots=True)
class BackupPlan:
    """Where and when the daily backup goes, and how many are kept."""

    directory: Path
    at: time = time(3, 30)
    keep: int = 7


class BackupJob:
    """The daily consistent copy into ``BACKUP_DIR``, its rotation, and the checkpoint after."""

    def __init__(self, database: DatabaseMaintenance, clock: Clock, plan: BackupPlan) -> None:
        if plan.keep < 1:
            raise ValueError("BACKUP_KEEP must be at least 1")
        self.database = database
        self.clock = clock
        self.plan = plan
        self._retry_after: datetime | None = None

    def backups(self) -> list[Path]:
        """The directory's backups (by name only), oldest first."""
        if not self.plan.directory.is_dir():
            return []
        found = [p for p in self.plan.directory.iterdir() if BACKUP_NAME.match(p.name)]
        return sorted(found, key=lambda path: path.name)

    def done_on(self, now: datetime) -> bool:
        """Whether today's backup (taken at or after today's ``at``) is already there."""
        local = now.astimezone(self.clock.tz)
        day, since = f"{local:%Y%m%d}", f"{self.plan.at:%H%M%S}"
        for path in self.backups():
            match = BACKUP_NAME.match(path.name)
            if match and match.group(1) == day and match.group(2) >= since:
                return True
        return False

    async def tick(self) -> BackupResult | None:
        """Back up if today's moment has come and today's copy is not there yet."""
        now = self.clock.now()
        if now < local_moment(now, self.plan.at, self.clock.tz):
            return None
        if self._retry_after is not None and now < self._retry_after:
            return None
        if await asyncio.to_thread(self.done_on, now):
            return None
        return await self.run(now)

    async def run(self, now: datetime) -> BackupResult | None:
        """Copy now, rotate, checkpoint; None (logged) when the copy failed."""
        target = self.plan.directory / backup_name(now, self.clock)
        try:
            await asyncio.to_thread(self.plan.directory.mkdir, parents=True, exist_ok=True)
            result = await self.database.backup(target)
        except (BackupError, OSError) as error:
            self._retry_after = now + RETRY_FAILED_BACKUP
            logger.error("daily backup to %s failed: %s", target, error)
            return None
        self._retry_after = None
        removed = await asyncio.to_thread(self.rotate)
        logger.info(
            "daily backup written: %s (%d bytes, %.1f s); %d older removed",
            result.path,
            result.size,
            result.seconds,
            len(removed),
        )
        await checkpoint(self.database)
        return result

    def rotate(self) -> list[Path]:
        """Delete all but the newest ``keep`` backups (and stale temporary copies)."""
        backups = self.backups()
        removed = backups[: max(len(backups) - self.plan.keep, 0)]
        for path in removed:
            path.unlink(missing_ok=True)
        cutoff = wall_time.time() - _STALE_AFTER_SECONDS
        for path in self.plan.directory.iterdir():
            if _STALE_TEMPORARY.match(path.name) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


async def checkpoint(database: DatabaseMaintenance) -> bool:
    """A truncating checkpoint; False (logged, tried again by the next one) when busy or failed."""
    try:
        result = await database.checkpoint()
    except BackupError as error:
        logger.warning("%s", error)
        return False
    if result.busy:
        logger.info("WAL checkpoint was busy (a long read); the next one finishes it")
        return False
    return True


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """How many rows one retention pass changed."""

    outbox_bodies: int = 0
    update_keys: int = 0
    conversations: int = 0
    media_files: int = 0


class MediaFiles(Protocol):
    """The kept photos, as the retention job sweeps them (``storage.media.FileMediaStore``)."""

    def stored_before(self, moment: datetime) -> list[str]: ...

    def remove(self, ref: str, *, before: datetime | None = None) -> bool: ...


# A kept photo younger than this is never swept: it is written before the message that names
# it commits, and a request form may hold it in a draft for a while.
MEDIA_GRACE = timedelta(days=1)


def _remove_all(media: MediaFiles, refs: list[str], before: datetime) -> int:
    return sum(media.remove(ref, before=before) for ref in refs)


class RetentionJob:
    """Once a day at ``at`` (city time): forget what is older than ``days`` (see module doc)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        days: int,
        at: time = time(3, 30),
        media: MediaFiles | None = None,
    ) -> None:
        if days < 1:
            raise ValueError("RETENTION_DAYS must be at least 1")
        self.storage = storage
        self.media = media
        self.clock = clock
        self.keep = timedelta(days=days)
        self.at = at
        self._done_on: date | None = None

    async def tick(self) -> RetentionReport | None:
        """Run once a day after ``at``; None when it is not time or already done today."""
        now = self.clock.now()
        if now < local_moment(now, self.at, self.clock.tz):
            return None
        today = now.astimezone(self.clock.tz).date()
        if self._done_on == today:
            return None
        report = await self.run(now)
        self._done_on = today
        return report

    async def run(self, now: datetime) -> RetentionReport:
        before = now - self.keep
        keys_before = now - max(self.keep, UPDATE_KEYS_FLOOR)
        bodies = await self._in_chunks(
            lambda session: session.retention.forget_outbox_bodies(
                before=before, limit=RETENTION_CHUNK
            )
        )
        keys = await self._in_chunks(
            lambda session: session.updates.prune(before=keys_before, limit=RETENTION_CHUNK)
        )
        conversations = await self._in_chunks(
            lambda session: session.retention.forget_conversations(
                before=before, limit=RETENTION_CHUNK
            )
        )
        media_files = await self.sweep_media(now)
        report = RetentionReport(bodies, keys, conversations, media_files)
        logger.info(
            "retention (%d days): %d outbox bodies, %d update keys, %d conversation states,"
            " %d kept photos no longer referred to",
            self.keep.days,
            bodies,
            keys,
            conversations,
            media_files,
        )
        return report

    async def sweep_media(self, now: datetime) -> int:
        """Delete the kept photos nothing refers to any more (an erased request's, a
        forgotten draft's): personal data is not kept on disk past its rows."""
        if self.media is None:
            return 0
        media = self.media
        moment = now - MEDIA_GRACE
        candidates = await asyncio.to_thread(media.stored_before, moment)
        removed = 0
        for start in range(0, len(candidates), RETENTION_CHUNK):
            chunk = candidates[start : start + RETENTION_CHUNK]
            async with self.storage.transaction() as session:
                in_use = await session.retention.media_in_use(chunk)
            unused = [ref for ref in chunk if ref not in in_use]
            # A photo sent again since the listing was touched by ``put``: ``before`` spares it.
            removed += await asyncio.to_thread(_remove_all, media, unused, moment)
        return removed

    async def _in_chunks(self, step: Callable[[StoreSession], Awaitable[int]]) -> int:
        """Repeat ``step`` in short transactions until a chunk comes back short."""
        total = 0
        while True:
            async with self.storage.transaction() as session:
                count = await step(session)
            total += count
            if count < RETENTION_CHUNK:
                return total
            await asyncio.sleep(0)  # let waiting messages in between chunks
