"""What the ops listener asks the storage: after-commit callbacks, the outbox backlog (on both
backends), the write probe and the schema version (real SQLite files; PostgreSQL's are in
test_postgres.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from storage.base import Storage
from storage.errors import StorageBusy
from storage.outbox import NewOutboxMessage, OutboxBacklog
from storage.sqlite import SqliteStorage
from storage.sqlite.database import known_schema_version

CHAT = UserRef(ChannelName.TELEGRAM, "42")


def message(key: str, clock: ManualClock) -> NewOutboxMessage:
    return NewOutboxMessage(
        idempotency_key=key, chat=CHAT, kind="status", body="[]", not_before=clock.now()
    )


@pytest.mark.both_backends
async def test_after_commit_runs_once_committed_and_never_after_a_rollback(
    storage: Storage,
) -> None:
    seen: list[str] = []
    async with storage.transaction() as session:
        session.after_commit(lambda: seen.append("committed"))
        assert seen == []
    assert seen == ["committed"]

    with pytest.raises(RuntimeError):
        async with storage.transaction() as session:
            session.after_commit(lambda: seen.append("rolled back"))
            raise RuntimeError("boom")
    assert seen == ["committed"]


@pytest.mark.both_backends
async def test_a_failing_callback_does_not_stop_the_others(storage: Storage) -> None:
    seen: list[int] = []

    def broken() -> None:
        raise ValueError("a bug in a counter")

    async with storage.transaction() as session:
        session.after_commit(broken)
        session.after_commit(lambda: seen.append(1))
    assert seen == [1]


@pytest.mark.both_backends
async def test_backlog_counts_pending_messages_and_finds_the_oldest(
    storage: Storage, clock: ManualClock
) -> None:
    async with storage.snapshot() as session:
        assert await session.outbox.backlog() == OutboxBacklog(0, None)
    first = clock.now()
    async with storage.transaction() as session:
        await session.outbox.enqueue(message("a", clock), now=first)
        clock.advance(timedelta(minutes=3))
        await session.outbox.enqueue(message("b", clock), now=clock.now())
        sent = await session.outbox.enqueue_claimed(message("c", clock), now=clock.now())
        assert sent is not None
    async with storage.snapshot() as session:
        assert await session.outbox.backlog() == OutboxBacklog(2, first)


async def test_probe_write_commits_and_fails_while_another_process_holds_the_lock(
    db_path: Path,
) -> None:
    storage = await SqliteStorage.open(db_path, busy_timeout_ms=200)
    try:
        await storage.probe_write()
        assert await storage.schema_version() == known_schema_version()
        assert storage.known_schema_version() == known_schema_version()
        with closing(sqlite3.connect(storage.path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageBusy):
                await storage.probe_write()
            other.execute("ROLLBACK")
        await storage.probe_write()
    finally:
        await storage.close()
