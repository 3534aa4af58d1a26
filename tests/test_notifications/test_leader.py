"""Leader election (issue 14): one instance at a time delivers and schedules; when the
leader's database connection dies another takes over within ``LEADER_TIMEOUT``, and the old
leader stops acting as one.

The election runs on real time (it sleeps between rounds), with a short timeout here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest

from notifications.leader import LeaderElection, Role
from storage.leader import LeaderLock
from storage.postgres import PostgresStorage
from storage.postgres.leader import PostgresLeaderLock
from storage.sqlite import SqliteStorage
from tests.postgres import fresh_schema, server_url

TIMEOUT = 2.0  # LEADER_TIMEOUT of these tests


class Instance:
    """An election whose callbacks record when this instance started and stopped leading."""

    def __init__(self, name: str, lock: LeaderLock) -> None:
        self.name = name
        self.events: list[tuple[float, str]] = []
        self.election = LeaderElection(
            lock, timeout=TIMEOUT, on_elected=self._elected, on_deposed=self._deposed
        )

    async def _elected(self) -> None:
        self.events.append((time.monotonic(), "elected"))

    async def _deposed(self) -> None:
        self.events.append((time.monotonic(), "deposed"))

    def is_leader(self) -> bool:
        return self.election.role is Role.LEADER

    def when(self, event: str) -> float:
        return next(moment for moment, name in self.events if name == event)


async def wait_until(condition: object, seconds: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.02)


async def advisory_holders(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid IN (SELECT pid FROM pg_stat_activity"
            "  WHERE application_name = 'contact-center-leader')"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(60)
async def test_only_one_leads_and_another_takes_over_when_its_connection_is_killed() -> None:
    async with fresh_schema() as url:
        first = await PostgresStorage.open(url)
        second = await PostgresStorage.open(url)
        a = Instance("a", first.leader_lock("delivery"))
        b = Instance("b", second.leader_lock("delivery"))
        try:
            await a.election.start()
            await b.election.start()
            assert a.election.role is Role.LEADER
            assert b.election.role is Role.FOLLOWER
            # A few rounds later it is still so: the follower keeps asking and is refused.
            await asyncio.sleep(TIMEOUT)
            assert (a.election.role, b.election.role) == (Role.LEADER, Role.FOLLOWER)
            assert [name for _, name in b.events] == []
            assert await advisory_holders(url) == 1

            # The leader's connection dies (as when its process is SIGKILLed or the network
            # drops it): the server releases the lock.
            lock = a.election.lock
            assert isinstance(lock, PostgresLeaderLock)
            pid = await lock.backend_pid()
            assert pid is not None
            async with await psycopg.AsyncConnection.connect(server_url(), autocommit=True) as db:
                await db.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed = time.monotonic()

            await wait_until(b.is_leader, TIMEOUT + 1)
            took_over = b.when("elected") - killed
            assert took_over < TIMEOUT, f"took {took_over:.2f} s"
            # It waited two steps after taking the lock: the time the old leader needs to
            # notice that its connection is gone.
            assert took_over >= 2 * b.election.step
            # The old leader noticed and stepped down, before the new one began to act.
            await wait_until(lambda: a.election.role is not Role.LEADER, TIMEOUT)
            assert [name for _, name in a.events] == ["elected", "deposed"]
            assert a.when("deposed") < b.when("elected")
            # The old one reconnects and competes again, as a follower now.
            await asyncio.sleep(TIMEOUT / 2)
            assert (a.election.role, b.election.role) == (Role.FOLLOWER, Role.LEADER)
            assert await advisory_holders(url) == 1
        finally:
            await a.election.close()
            await b.election.close()
            await first.close()
            await second.close()


@pytest.mark.timeout(60)
async def test_a_leader_that_closes_hands_over_and_the_lock_is_per_schema() -> None:
    async with fresh_schema() as url, fresh_schema() as elsewhere:
        first = await PostgresStorage.open(url)
        second = await PostgresStorage.open(url)
        other = await PostgresStorage.open(elsewhere)
        a = Instance("a", first.leader_lock("delivery"))
        b = Instance("b", second.leader_lock("delivery"))
        c = Instance("c", other.leader_lock("delivery"))
        try:
            for instance in (a, b, c):
                await instance.election.start()
            # Another deployment (another schema) has a leader of its own.
            assert [i.election.role for i in (a, b, c)] == [
                Role.LEADER,
                Role.FOLLOWER,
                Role.LEADER,
            ]
            await a.election.close()  # a graceful stop: the lock is given up at once
            assert [name for _, name in a.events] == ["elected", "deposed"]
            await wait_until(lambda: b.election.role is Role.LEADER, TIMEOUT + 1)
        finally:
            for instance in (a, b, c):
                await instance.election.close()
            for storage in (first, second, other):
                await storage.close()


@pytest.mark.timeout(60)
async def test_processes_sharing_a_sqlite_file_elect_one(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    first = await SqliteStorage.open(path)
    second = await SqliteStorage.open(path)
    a = Instance("a", first.leader_lock("delivery"))
    b = Instance("b", second.leader_lock("delivery"))
    try:
        await a.election.start()
        await b.election.start()
        assert (a.election.role, b.election.role) == (Role.LEADER, Role.FOLLOWER)
        await asyncio.sleep(TIMEOUT / 2)
        assert (a.election.role, b.election.role) == (Role.LEADER, Role.FOLLOWER)
        await a.election.close()
        await wait_until(lambda: b.election.role is Role.LEADER, TIMEOUT + 1)
    finally:
        await a.election.close()
        await b.election.close()
        await first.close()
        await second.close()
