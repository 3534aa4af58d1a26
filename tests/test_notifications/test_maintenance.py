"""Daily upkeep: retention keeps every statistic, the backup keeps BACKUP_KEEP copies, and the
checkpoint truncates the WAL; the scheduler ticks them with the injected clock."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.media import media_ref
from domain.requests import Status
from notifications.digest import load_report
from notifications.maintenance import (
    UPDATE_KEYS_FLOOR,
    BackupJob,
    BackupPlan,
    RetentionJob,
    RetentionReport,
)
from notifications.quiet import local_moment
from notifications.scheduler import NotificationJobs, NotificationScheduler
from notifications.stats import Labels, day_period, parse_period, render_figures
from storage.base import ConversationState
from storage.maintenance import BackupError, BackupResult, CheckpointResult
from storage.media import FileMediaStore
from storage.outbox import NewOutboxMessage, OutboxStatus
from storage.privacy import ERASED_BODY
from storage.sqlite import SqliteStorage
from storage.sqlite.backup import verify_database, wal_path
from tests.test_notifications.helpers import (
    ALICE,
    BOB,
    OPERATOR,
    STAFF,
    WATER,
    make_requests,
    messages,
    texts,
)
from tests.test_notifications.test_stats import seed

CAROL = UserRef(ChannelName.VIBER, "carol-viber")
AT = time(3, 30)


async def wait_until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition (a bounded wait, not a timed assertion)."""
    async with asyncio.timeout(10):
        while not await condition():  # noqa: ASYNC110 - polling, with a timeout
            await asyncio.sleep(0.01)


def at_backup_time(day: datetime, clock: ManualClock, *, minutes: int = 0) -> datetime:
    return local_moment(day, AT, clock.tz) + timedelta(minutes=minutes)


# -- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """Everything /stats, /export and the digest show, computed at one fixed moment."""

    digest_text: str
    digest: Any
    week: Any
    totals: Any
    export: Any


async def observe(storage: SqliteStorage, now: datetime, clock: ManualClock) -> Observed:
    labels = Labels(texts())
    yesterday = day_period(now.astimezone(clock.tz).date() - timedelta(days=1), clock.tz)
    digest = await load_report(storage, yesterday, now=now)
    week = await load_report(storage, parse_period("30d", now=now, tz=clock.tz), now=now)
    async with storage.snapshot() as session:
        export = await session.stats.export_requests(start=None, end=None, personal=True)
    return Observed(
        render_figures(digest.figures, digest.totals, labels),
        digest.figures,
        week.figures,
        digest.totals,
        export,
    )


async def deliver_old_messages(storage: SqliteStorage, clock: ManualClock) -> None:
    """Of the seed's ten messages: seven sent, one dead, one cancelled, one still pending."""
    found = await messages(storage)
    assert len(found) == 10
    async with storage.transaction() as session:
        for message in found[:7]:
            assert await session.outbox.claim(message.id, now=clock.now())
            await session.outbox.mark_sent(message.id, now=clock.now(), sent_ids=["1"])
        assert await session.outbox.claim(found[7].id, now=clock.now())
        await session.outbox.mark_dead(found[7].id, error="permanent: chat not found")
        await session.outbox.cancel(found[8].id, reason="blocked")


async def talk(storage: SqliteStorage, clock: ManualClock) -> None:
    """Conversation state for three residents (Carol is talking to an operator) and keys."""
    async with storage.transaction() as session:
        for user, step in ((ALICE, "req.address"), (BOB, "idle"), (CAROL, "relay")):
            resident = await session.residents.touch(user, now=clock.now())
            state = ConversationState(step, {"address": "вул. Тестова, 1"})
            await session.conversations.save(resident.id, state, now=clock.now())
            if user == CAROL:
                await session.relay.open(resident.id, now=clock.now())
        await session.updates.remember("telegram:1", now=clock.now())


async def test_retention_removes_old_bodies_keys_and_state_and_every_figure_stays(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    await seed(storage, clock)
    await deliver_old_messages(storage, clock)
    await talk(storage, clock)
    now = clock.now()
    before = await observe(storage, now, clock)
    async with storage.transaction() as session:
        counts_before = await session.outbox.counts()
    assert counts_before[OutboxStatus.DEAD] == 1

    # Forty days later, at the upkeep's time: everything above is older than 30 days.
    later = at_backup_time(now + timedelta(days=40), clock)
    clock.set(later)
    async with storage.transaction() as session:  # a fresh message and a fresh key stay
        await session.updates.remember("telegram:2", now=clock.now())
        fresh = NewOutboxMessage("fresh", ALICE, "status", '[{"text": "fresh"}]', clock.now())
        assert await session.outbox.enqueue(fresh, now=clock.now())
        sent = await session.outbox.by_key("fresh")
        assert sent is not None
        assert await session.outbox.claim(sent.id, now=clock.now())
        await session.outbox.mark_sent(sent.id, now=clock.now(), sent_ids=["2"])
    job = RetentionJob(storage, clock, days=30, at=AT)
    clock.set(later - timedelta(minutes=1))
    assert await job.tick() is None  # not yet
    clock.set(later)
    report = await job.tick()
    assert report == RetentionReport(outbox_bodies=9, update_keys=1, conversations=2)
    assert await job.tick() is None  # once a day

    after = await observe(storage, now, clock)
    assert after == before
    async with storage.transaction() as session:
        counts_after = await session.outbox.counts()
        keys = (await session.updates.seen("telegram:1"), await session.updates.seen("telegram:2"))
        states = {
            user.user_id: await session.conversations.load(resident.id)
            for user in (ALICE, BOB, CAROL)
            if (resident := await session.residents.get(user)) is not None
        }
    # The rows stay: sent and pending counts as before; the dead one can no longer be retried
    # (its body is gone), so it is cancelled: the total is the same.
    assert counts_after[OutboxStatus.SENT] == counts_before[OutboxStatus.SENT] + 1 == 8
    assert counts_after[OutboxStatus.PENDING] == counts_before[OutboxStatus.PENDING] == 1
    assert counts_after[OutboxStatus.DEAD] == 0
    assert counts_after[OutboxStatus.CANCELLED] == counts_before[OutboxStatus.CANCELLED] + 1
    assert sum(counts_after.values()) == sum(counts_before.values()) + 1  # + the fresh one
    bodies: dict[OutboxStatus, set[str]] = {status: set() for status in OutboxStatus}
    expired = None
    for message in await messages(storage):
        bodies[message.status].add(message.body)
        if message.last_error and message.last_error.startswith("expired"):
            expired = message.last_error
    assert bodies[OutboxStatus.SENT] == {ERASED_BODY, '[{"text": "fresh"}]'}
    assert bodies[OutboxStatus.CANCELLED] == {ERASED_BODY}
    assert ERASED_BODY not in bodies[OutboxStatus.PENDING]  # owed: never touched
    assert expired == "expired: permanent: chat not found"
    assert keys == (False, True)
    # Alice and Bob start afresh; Carol's operator may still answer her.
    assert states["1001"] == ConversationState()
    assert states["1002"] == ConversationState()
    assert states["carol-viber"].step == "relay"


async def test_update_keys_outlive_a_short_retention(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    await talk(storage, clock)
    await seed(storage, clock)
    await deliver_old_messages(storage, clock)
    # One day of retention, but a key stays for UPDATE_KEYS_FLOOR (a redelivery must be seen).
    clock.advance(timedelta(days=1, hours=1))
    report = await RetentionJob(storage, clock, days=1).run(clock.now())
    assert report.update_keys == 0
    async with storage.transaction() as session:
        assert await session.updates.seen("telegram:1")
    clock.advance(UPDATE_KEYS_FLOOR)
    report = await RetentionJob(storage, clock, days=1).run(clock.now())
    assert report.update_keys == 1


async def test_retention_goes_through_a_backlog_in_chunks(
    storage: SqliteStorage, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import maintenance  # noqa: PLC0415

    monkeypatch.setattr(maintenance, "RETENTION_CHUNK", 3)
    await seed(storage, clock)
    await deliver_old_messages(storage, clock)
    clock.advance(timedelta(days=31))
    report = await RetentionJob(storage, clock, days=30).run(clock.now())
    assert report.outbox_bodies == 9


# -- backups --------------------------------------------------------------------------------


async def test_the_scheduler_backs_up_daily_and_keeps_backup_keep_copies(
    storage: SqliteStorage, clock: ManualClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup")
    (folder / "bot-manual.sqlite3").write_text("not of the daily name pattern")
    backup = BackupJob(storage, clock, BackupPlan(folder, at=AT, keep=2))
    jobs = NotificationJobs(storage, clock=clock, backup=backup, database=storage)
    clock.set(at_backup_time(clock.now(), clock, minutes=-5))
    scheduler = NotificationScheduler(
        jobs, tick_seconds=60, digest_seconds=60, maintenance_seconds=0.02
    )
    scheduler.start()
    try:

        async def ticked() -> bool:
            return jobs.ticks["maintenance"] >= 3

        await wait_until(ticked)
        assert backup.backups() == []  # before BACKUP_TIME nothing is written

        names: list[str] = []
        for day in range(4):
            first = jobs.ticks["maintenance"]
            clock.set(at_backup_time(clock.now() + timedelta(days=1 if day else 0), clock))
            expected = f"bot-{clock.now().astimezone(clock.tz):%Y%m%d}-033000.sqlite3"
            names.append(expected)

            async def written(name: str = expected) -> bool:
                return (folder / name).exists()

            await wait_until(written)

            async def ticked_again(since: int = first) -> bool:
                return jobs.ticks["maintenance"] >= since + 3

            await wait_until(ticked_again)  # ticking on the same day copies nothing more
            clock.advance(timedelta(hours=2))
    finally:
        await scheduler.shutdown()

    assert names[0] == "bot-20261125-033000.sqlite3"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*names[-2:], "bot-manual.sqlite3", "notes.txt"]
    )
    for name in names[-2:]:
        assert verify_database(folder / name) >= 8
    assert wal_path(storage.path).stat().st_size == 0  # truncated after the copy


async def test_a_restart_does_not_copy_twice_and_backup_dir_is_created(
    storage: SqliteStorage, clock: ManualClock, tmp_path: Path
) -> None:
    folder = tmp_path / "new" / "backups"
    clock.set(at_backup_time(clock.now(), clock, minutes=10))
    first = await BackupJob(storage, clock, BackupPlan(folder, at=AT)).tick()
    assert first is not None
    clock.advance(timedelta(hours=1))
    again = BackupJob(storage, clock, BackupPlan(folder, at=AT))  # as after a restart
    assert await again.tick() is None
    assert [p.name for p in folder.iterdir()] == [first.path.name]


class FailingDatabase:
    """A database whose copies fail (a full disk), counting the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    async def backup(self, target: Path) -> BackupResult:
        self.attempts += 1
        raise BackupError(f"copying to {target} failed: disk full")

    async def checkpoint(self) -> CheckpointResult:
        return CheckpointResult(busy=False, log_frames=0, checkpointed_frames=0, wal_bytes=0)


async def test_a_failed_backup_is_logged_and_tried_again_later_not_every_minute(
    clock: ManualClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = FailingDatabase()
    job = BackupJob(database, clock, BackupPlan(tmp_path, at=AT))
    clock.set(at_backup_time(clock.now(), clock))
    assert await job.tick() is None
    assert "disk full" in caplog.text
    clock.advance(timedelta(minutes=1))
    assert await job.tick() is None
    assert database.attempts == 1
    clock.advance(timedelta(minutes=30))
    await job.tick()
    assert database.attempts == 2
    assert not any(tmp_path.glob("*"))  # noqa: ASYNC240 - a quick look at a test folder


async def test_the_hourly_checkpoint_truncates_the_wal(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    async with storage.transaction() as session:
        await session.residents.touch(ALICE, now=clock.now())
    wal = wal_path(storage.path)
    assert wal.stat().st_size > 0
    jobs = NotificationJobs(storage, clock=clock, database=storage)
    scheduler = NotificationScheduler(
        jobs, tick_seconds=60, digest_seconds=60, checkpoint_seconds=0.02
    )
    scheduler.start()
    try:

        async def truncated() -> bool:
            return jobs.ticks["checkpoint"] >= 1 and wal.stat().st_size == 0

        await wait_until(truncated)
    finally:
        await scheduler.shutdown()
    assert await NotificationJobs(storage).checkpoint_tick() is False  # nothing configured


def kept_photo(store: FileMediaStore, name: str, *, age: timedelta, now: datetime) -> str:
    """A kept photo file named as the store names them, last written ``age`` before ``now``."""
    ref = media_ref(hashlib.sha256(name.encode()).hexdigest(), "jpg")
    path = store.directory / ref.removeprefix("media:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + name.encode())
    moment = (now - age).timestamp()
    os.utime(path, (moment, moment))
    return ref


async def test_retention_deletes_kept_photos_nothing_refers_to_and_an_erased_requests_too(
    storage: SqliteStorage, clock: ManualClock, tmp_path: Path
) -> None:
    store = FileMediaStore(tmp_path / "media")
    now = clock.now()
    old = timedelta(days=3)
    on_request = kept_photo(store, "request", age=old, now=now)
    in_draft = kept_photo(store, "draft", age=old, now=now)
    in_outbox = kept_photo(store, "outbox", age=old, now=now)
    orphan = kept_photo(store, "orphan", age=old, now=now)
    just_kept = kept_photo(store, "young", age=timedelta(minutes=5), now=now)
    requests = make_requests(clock)
    draft = replace(WATER, photos=(on_request,))
    async with storage.transaction() as session:
        alice = await session.residents.touch(ALICE, now=now)
        request = await requests.create(session, alice, draft)
        bob = await session.residents.touch(BOB, now=now)
        state = ConversationState("req.photos", {"d": {"photos": [in_draft]}})
        await session.conversations.save(bob.id, state, now=now)
        body = f'[{{"text": "card", "photo": "{in_outbox}"}}]'
        await session.outbox.enqueue(NewOutboxMessage("card", STAFF, "card", body, now), now=now)

    job = RetentionJob(storage, clock, days=30, at=AT, media=store)
    report = await job.run(now)
    assert report.media_files == 1
    left = {
        ref for ref in (on_request, in_draft, in_outbox, orphan, just_kept) if store.path_of(ref)
    }
    assert left == {on_request, in_draft, in_outbox, just_kept}

    # /forget of a resident whose request is closed erases its photos' rows: the file goes
    # at the next run (an open request would keep them until it closes).
    async with storage.transaction() as session:
        await requests.change_status(session, request.id, Status.REJECTED, OPERATOR, "дубль")
        await session.privacy.erase_resident(alice.id, now=now)
    assert (await job.run(now)).media_files == 1
    assert store.path_of(on_request) is None
    assert store.path_of(in_draft) is not None
