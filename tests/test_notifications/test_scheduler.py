"""APScheduler really ticks the jobs on the running loop; what is due comes from the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from domain.clock import ManualClock
from domain.requests import Status
from notifications.scheduler import NotificationJobs, NotificationScheduler
from services.followups import FollowupService, FollowupSettings
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_notifications.helpers import (
    ALICE,
    STAFF,
    file_request,
    make_requests,
    messages,
    set_status,
    texts,
)


async def wait_until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition (a bounded wait, not a timed assertion)."""
    async with asyncio.timeout(10):
        while not await condition():  # noqa: ASYNC110 - polling the database, with a timeout
            await asyncio.sleep(0.01)


async def test_the_scheduler_ticks_and_a_due_follow_up_is_asked(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    requests = make_requests(clock)
    followups = FollowupService(
        requests,
        texts(),
        clock,
        staff_chat=STAFF,
        settings=FollowupSettings(delay=timedelta(minutes=1)),
    )
    jobs = NotificationJobs(storage, followups=followups)
    request = await file_request(storage, requests, ALICE, clock)
    await set_status(storage, requests, request.id, Status.DONE)
    scheduler = NotificationScheduler(jobs, tick_seconds=0.05, digest_seconds=0.05)
    scheduler.start()
    try:

        async def ticked_twice() -> bool:
            return jobs.ticks["followups"] >= 2 and jobs.ticks["digest"] >= 1

        await wait_until(ticked_twice)
        assert [m for m in await messages(storage) if m.kind == "followup"] == []
        clock.advance(timedelta(minutes=1))  # the job reads the injected clock, not real time

        async def asked() -> bool:
            return any(m.kind == "followup" for m in await messages(storage))

        await wait_until(asked)
    finally:
        await scheduler.shutdown()
    # Ticking again and again asked once: the job is idempotent.
    assert len([m for m in await messages(storage) if m.kind == "followup"]) == 1


async def test_shutdown_waits_for_a_tick_in_progress_instead_of_cancelling_it(
    storage: SqliteStorage,
) -> None:
    """APScheduler cancels running jobs on shutdown; a tick cut inside a transaction would
    leave the connection in it. The tick finishes, and the database stays usable."""
    entered = asyncio.Event()
    release = asyncio.Event()
    finished: list[bool] = []

    class SlowJobs(NotificationJobs):
        async def followups_tick(self) -> int:
            async with self.storage.transaction() as session:
                entered.set()
                await release.wait()
                await session.outbox.counts()
            finished.append(True)
            return 0

    scheduler = NotificationScheduler(SlowJobs(storage), tick_seconds=0.01, digest_seconds=60)
    scheduler.start()
    async with asyncio.timeout(10):
        await entered.wait()
    stopping = asyncio.create_task(scheduler.shutdown())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the tick, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == [True]
    async with storage.transaction() as session:
        assert (await session.outbox.counts())[OutboxStatus.PENDING] == 0


async def test_old_update_keys_are_pruned_in_chunks_by_the_scheduler(
    storage: SqliteStorage, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifications import scheduler as module  # noqa: PLC0415

    monkeypatch.setattr(module, "PRUNE_CHUNK", 7)
    async with storage.transaction() as session:
        for i in range(30):
            await session.updates.remember(f"tg:{i}", now=clock.now())
    clock.advance(module.KEEP_UPDATE_KEYS - timedelta(hours=1))
    async with storage.transaction() as session:
        await session.updates.remember("tg:recent", now=clock.now())
    clock.advance(timedelta(hours=2))  # the first 30 are now older than KEEP_UPDATE_KEYS
    jobs = NotificationJobs(storage, clock=clock)
    scheduler = NotificationScheduler(jobs, tick_seconds=60, digest_seconds=60, prune_seconds=0.05)
    scheduler.start()
    try:

        async def pruned() -> bool:
            async with storage.transaction() as session:
                return not await session.updates.seen("tg:29")

        await wait_until(pruned)
    finally:
        await scheduler.shutdown()
    async with storage.transaction() as session:
        assert not await session.updates.seen("tg:0")
        assert await session.updates.seen("tg:recent")  # younger than a week: a redelivery
    assert await jobs.prune_tick() == 0  # nothing more to do
