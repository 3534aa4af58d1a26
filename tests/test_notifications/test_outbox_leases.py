"""Several delivery workers on one database (issue 14): outbox leases and claims.

Two storage objects on one database are two processes as far as the database can tell (two
SQLite connections to one file, or two PostgreSQL pools on one schema), each with an owner id
of its own. What a process claims is leased to it: another takes it back only once the lease
ran out (the ManualClock decides), never while its owner may still be sending it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from domain.channel import Sent
from domain.clock import Clock, ManualClock, SystemClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from notifications.worker import OutboxWorker
from services.outbox import enqueue
from storage.base import Storage
from storage.outbox import OutboxLease, OutboxStatus
from storage.sqlite import SqliteStorage
from tests.postgres import BACKENDS, postgres_instances
from tests.test_notifications.helpers import ScriptedChannel, messages

LEASE = 60.0


@asynccontextmanager
async def two_instances(backend: str, folder: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    """Two storages on one database, each with its own lease owner."""
    if backend == "postgres":
        async with postgres_instances() as both:
            yield both
        return
    path = folder / "bot.sqlite3"
    one = await SqliteStorage.open(path)
    two = await SqliteStorage.open(path)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


def chat(number: int) -> UserRef:
    return UserRef(ChannelName.TELEGRAM, str(5000 + number))


async def queue_many(storage: Storage, clock: Clock, count: int) -> None:
    async with storage.transaction() as session:
        for number in range(count):
            await enqueue(
                session,
                key=f"m{number}",
                chat=chat(number),
                replies=[Reply(f"m{number}")],
                kind="status",
                now=clock.now(),
            )


class SlowChannel(ScriptedChannel):
    """Records every send (shared by both workers) and takes a little while, as a platform
    does, so that both workers have sends in flight at once."""

    def __init__(self, log: list[tuple[str, str]], who: str) -> None:
        super().__init__()
        self.log = log
        self.who = who

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        await asyncio.sleep(0.01)
        for reply in replies:
            self.log.append((self.who, reply.text))
        return await super().send(chat, replies)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.timeout(120)
async def test_two_workers_on_one_database_send_each_message_once_and_share_the_load(
    backend: str, tmp_path: Path, clock: ManualClock
) -> None:
    count = 120
    log: list[tuple[str, str]] = []
    async with two_instances(backend, tmp_path) as (first, second):
        await queue_many(first, clock, count)
        workers = [
            OutboxWorker(
                storage,
                {ChannelName.TELEGRAM: SlowChannel(log, name)},
                clock,
                concurrency=4,
                batch=20,
                refresh_interval=0.01,
                poll_interval=0.01,
            )
            for storage, name in ((first, "first"), (second, "second"))
        ]
        tasks = [asyncio.create_task(work.run()) for work in workers]
        try:
            deadline = time.monotonic() + 60
            while len(log) < count:
                assert time.monotonic() < deadline, f"only {len(log)} sent"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # anything sent twice would show up by now
        finally:
            for work in workers:
                work.stop()
            await asyncio.gather(*tasks)
        texts = Counter(text for _, text in log)
        assert [text for text, n in texts.items() if n > 1] == [], "a message was sent twice"
        assert len(texts) == count
        by_worker = Counter(who for who, _ in log)
        assert by_worker["first"] > 0
        assert by_worker["second"] > 0, f"one worker did everything: {by_worker}"
        assert {m.status for m in await messages(first)} == {OutboxStatus.SENT}


async def test_a_claim_skips_rows_another_instance_is_claiming_instead_of_waiting(
    clock: ManualClock,
) -> None:
    """PostgreSQL: ``FOR UPDATE SKIP LOCKED``. While one instance's claim transaction holds a
    row, another's claim of it and a free row returns the free one at once."""
    async with two_instances("postgres", Path()) as (first, second):
        await queue_many(first, clock, 2)
        [one, two] = await messages(first)
        claimed_by_second: set[int] = set()
        async with first.transaction() as session:
            assert await session.outbox.claim_many([one.id], now=clock.now()) == {one.id}
            # Not committed yet: the row is locked by this transaction.
            async with asyncio.timeout(3), second.transaction() as other:
                claimed_by_second = await other.outbox.claim_many([one.id, two.id], now=clock.now())
        assert claimed_by_second == {two.id}
        rows = {m.id: m for m in await messages(first)}
        assert rows[one.id].lease_owner == first.outbox_lease.owner
        assert rows[two.id].lease_owner == second.outbox_lease.owner
        assert rows[one.id].attempts == rows[two.id].attempts == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_killed_instances_messages_are_taken_back_only_after_its_lease(
    backend: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with two_instances(backend, tmp_path) as (dead, alive):
        assert dead.outbox_lease.owner != alive.outbox_lease.owner
        assert dead.outbox_lease.seconds == alive.outbox_lease.seconds == LEASE
        await queue_many(dead, clock, 3)
        ids = [m.id for m in await messages(dead)]
        async with dead.transaction() as session:
            # The dead instance claimed them, then was killed mid-send.
            assert await session.outbox.claim_many(ids, now=clock.now()) == set(ids)
        channel = ScriptedChannel()
        work = OutboxWorker(alive, {channel.name: channel}, clock)
        # A restart of the other instance does not take back what may still be being sent.
        assert await work.recover() == 0
        clock.advance(timedelta(seconds=LEASE - 1))
        assert await work.reclaim_expired() == 0
        await work.drain()
        assert channel.sent == []
        assert {m.status for m in await messages(alive)} == {OutboxStatus.SENDING}
        # The lease runs out: the running worker takes them back and sends each once.
        clock.advance(timedelta(seconds=1))
        assert await work.reclaim_expired() == 3
        result = await work.drain()
        assert result.sent == 3
        assert sorted(channel.texts()) == ["m0", "m1", "m2"]
        assert {m.status for m in await messages(alive)} == {OutboxStatus.SENT}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_renewed_lease_keeps_the_message_with_its_sender(
    backend: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with two_instances(backend, tmp_path) as (sender, other):
        await queue_many(sender, clock, 2)
        [slow, quick] = [m.id for m in await messages(sender)]
        async with sender.transaction() as session:
            assert await session.outbox.claim_many([slow, quick], now=clock.now()) == {slow, quick}
        clock.advance(timedelta(seconds=LEASE - 10))
        async with sender.transaction() as session:
            # Only the owner renews, and only what it still holds.
            assert await session.outbox.renew_leases([slow], now=clock.now()) == {slow}
        async with other.transaction() as session:
            assert await session.outbox.renew_leases([slow, quick], now=clock.now()) == set()
        clock.advance(timedelta(seconds=10))
        async with other.transaction() as session:
            assert await session.outbox.release_expired(now=clock.now()) == 1  # quick's ran out
            found = await session.outbox.get(slow)
            assert found is not None
            assert found.status is OutboxStatus.SENDING
            assert found.lease_owner == sender.outbox_lease.owner
            # The other instance claims quick anew; the late sender can no longer put it back.
            assert await session.outbox.claim(quick, now=clock.now())
        async with sender.transaction() as session:
            assert await session.outbox.renew_leases([slow, quick], now=clock.now()) == {slow}
            await session.outbox.reschedule(quick, not_before=clock.now(), error="late")
            taken = await session.outbox.get(quick)
            assert taken is not None
            assert taken.status is OutboxStatus.SENDING
            assert taken.lease_owner == other.outbox_lease.owner


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_running_worker_picks_up_expired_leases_without_a_restart(
    backend: str, tmp_path: Path
) -> None:
    """The loop of ``run`` looks for expired leases every few seconds (a short lease here, on
    the real clock: ``run`` waits in real time)."""
    clock = SystemClock()
    async with two_instances(backend, tmp_path) as (dead, alive):
        for storage in (dead, alive):
            storage.outbox_lease = OutboxLease(storage.outbox_lease.owner, 1.0)
        await queue_many(dead, clock, 2)
        ids = [m.id for m in await messages(dead)]
        async with dead.transaction() as session:
            assert await session.outbox.claim_many(ids, now=clock.now()) == set(ids)
        channel = ScriptedChannel()
        work = OutboxWorker(alive, {channel.name: channel}, clock, poll_interval=0.05)
        task = asyncio.create_task(work.run(recover=False))
        try:
            deadline = time.monotonic() + 15
            while len(channel.sent) < 2:
                assert time.monotonic() < deadline, "the expired leases were not picked up"
                await asyncio.sleep(0.05)
        finally:
            work.stop()
            await task
        assert sorted(channel.texts()) == ["m0", "m1"]
