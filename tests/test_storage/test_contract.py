"""Storage contract tests: written once against the ``Storage`` interface, run per backend."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from storage import ConfigurationError, ConversationState, Storage, StorageBusy, sqlite_path
from storage.sqlite import SqliteStorage, open_storage
from tests.postgres import BACKENDS, postgres_storage


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "postgres":
        async with postgres_storage() as server:
            yield server
        return
    backend = await SqliteStorage.open(tmp_path / "contract.sqlite3")
    try:
        yield backend
    finally:
        await backend.close()


# What each driver raises for a write in a read-only snapshot.
READ_ONLY = (sqlite3.OperationalError, psycopg.errors.ReadOnlySqlTransaction)

ALICE = UserRef(ChannelName.TELEGRAM, "1")
ALICE_VIBER = UserRef(ChannelName.VIBER, "1")


async def test_touch_creates_once_and_updates_last_seen(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        first = await session.residents.touch(ALICE, now=clock.now())
    clock.advance(60)
    async with store.transaction() as session:
        second = await session.residents.touch(ALICE, now=clock.now())
        assert await session.residents.count() == 1
    assert first.id == second.id
    assert second.first_seen == first.first_seen
    assert second.last_seen - first.last_seen == timedelta(seconds=60)
    assert second.language == "uk"
    assert second.last_seen.tzinfo is not None


async def test_same_id_in_two_channels_is_two_residents(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        a = await session.residents.touch(ALICE, now=clock.now())
        b = await session.residents.touch(ALICE_VIBER, now=clock.now())
    assert a.id != b.id


async def test_language_consent_and_blocked_flags(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        resident = await session.residents.touch(ALICE, now=clock.now())
        await session.residents.set_language(resident.id, "en")
        await session.residents.set_consent(resident.id, True, now=clock.now())
        await session.residents.set_blocked(resident.id, True)
        found = await session.residents.get_by_id(resident.id)
    assert found is not None
    assert (found.language, found.consent_personal_data, found.blocked) == ("en", True, True)
    assert found.consent_at == clock.now()
    async with store.transaction() as session:
        await session.residents.set_consent(resident.id, False, now=clock.now())
        again = await session.residents.get(ALICE)
    assert again is not None
    assert (again.consent_personal_data, again.consent_at) == (False, None)


async def test_conversation_state_round_trips_unicode(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        resident = await session.residents.touch(ALICE, now=clock.now())
        assert (await session.conversations.load(resident.id)).step == "idle"
        state = ConversationState("intake.address", {"text": "вул. Шевченка, 5 <b>'; DROP"})
        await session.conversations.save(resident.id, state, now=clock.now())
    async with store.transaction() as session:
        loaded = await session.conversations.load(resident.id)
    assert loaded.step == "intake.address"
    assert loaded.data == {"text": "вул. Шевченка, 5 <b>'; DROP"}


async def test_update_keys_are_remembered_once(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        assert not await session.updates.seen("tg:1")
        assert await session.updates.remember("tg:1", now=clock.now())
        assert not await session.updates.remember("tg:1", now=clock.now())
        assert await session.updates.seen("tg:1")
    clock.advance(timedelta(days=8))
    async with store.transaction() as session:
        assert await session.updates.prune(before=clock.now() - timedelta(days=7)) == 1
        assert not await session.updates.seen("tg:1")


async def test_update_keys_are_pruned_oldest_first_up_to_a_limit(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        for i in range(5):
            await session.updates.remember(f"tg:{i}", now=clock.now())
            clock.advance(1)
        await session.updates.remember("tg:new", now=clock.now() + timedelta(days=1))
    later = clock.now() + timedelta(hours=1)
    async with store.transaction() as session:
        assert await session.updates.prune(before=later, limit=2) == 2
        assert not await session.updates.seen("tg:0")
        assert not await session.updates.seen("tg:1")
        assert await session.updates.seen("tg:2")
        assert await session.updates.prune(before=later) == 3
        assert await session.updates.seen("tg:new")


async def test_a_failed_transaction_leaves_nothing(store: Storage, clock: ManualClock) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as session:
            await session.residents.touch(ALICE, now=clock.now())
            raise RuntimeError("boom")
    async with store.transaction() as session:
        assert await session.residents.get(ALICE) is None


async def test_concurrent_transactions_do_not_interleave(
    store: Storage, clock: ManualClock
) -> None:
    async def one(i: int) -> None:
        async with store.transaction() as session:
            await session.residents.touch(UserRef(ChannelName.TELEGRAM, str(i)), now=clock.now())
            await asyncio.sleep(0)
            await session.updates.remember(f"k{i}", now=clock.now())

    await asyncio.gather(*(one(i) for i in range(50)))
    async with store.transaction() as session:
        assert await session.residents.count() == 50


# SQLite-specific behaviour beyond the contract.


async def test_wal_foreign_keys_and_migrations(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    store = await SqliteStorage.open(path)
    try:
        assert await store.migrate() == []  # already applied, nothing twice
    finally:
        await store.close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in raw.execute("SELECT version FROM schema_migrations")]
        assert versions == sorted(versions)
        assert versions[0] == 1
    finally:
        raw.close()


async def test_locked_database_is_reported_as_busy(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "busy.sqlite3"
    store = await SqliteStorage.open(path, busy_timeout_ms=50)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageBusy):
            async with store.transaction() as session:
                await session.residents.touch(ALICE, now=clock.now())
        blocker.execute("ROLLBACK")
        async with store.transaction() as session:
            await session.residents.touch(ALICE, now=clock.now())
    finally:
        blocker.close()
        await store.close()


def test_database_url_forms(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///data/x.db", base=tmp_path) == tmp_path / "data/x.db"
    assert sqlite_path("sqlite:////var/lib/bot.db") == Path("/var/lib/bot.db")
    with pytest.raises(ConfigurationError):
        sqlite_path("postgresql://localhost/x")
    with pytest.raises(ConfigurationError):
        sqlite_path("sqlite:///")


async def test_open_storage_creates_the_folder(tmp_path: Path) -> None:
    store = await open_storage("sqlite:///deep/er/bot.sqlite3", base=tmp_path)
    await store.close()
    assert (tmp_path / "deep/er/bot.sqlite3").exists()


async def test_a_transaction_cancelled_midway_leaves_the_connection_usable(
    tmp_path: Path, clock: ManualClock
) -> None:
    store = await SqliteStorage.open(tmp_path / "cancel.sqlite3")
    try:
        started = asyncio.Event()

        async def slow() -> None:
            async with store.transaction() as session:
                await session.residents.touch(ALICE, now=clock.now())
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(20):  # cancel at many points of BEGIN as well
            attempt = asyncio.create_task(slow())
            await asyncio.sleep(0)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
        async with store.transaction() as session:
            assert await session.residents.get(ALICE) is None
            await session.residents.touch(ALICE_VIBER, now=clock.now())
        async with store.transaction() as session:
            assert await session.residents.get(ALICE_VIBER) is not None
    finally:
        await store.close()


async def test_a_snapshot_reads_what_was_committed_and_cannot_write(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        await session.residents.touch(ALICE, now=clock.now())
    async with store.snapshot() as view:
        assert await view.residents.count() == 1
        assert await view.residents.get(ALICE) is not None
        with pytest.raises(READ_ONLY):
            await view.residents.touch(ALICE_VIBER, now=clock.now())
    async with store.transaction() as session:
        assert await session.residents.get(ALICE_VIBER) is None


async def test_a_long_snapshot_does_not_hold_up_transactions(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        await session.residents.touch(ALICE, now=clock.now())
    async with store.snapshot() as view:
        # A write commits while the snapshot is open; the snapshot keeps its moment.
        async with store.transaction() as session:
            await session.residents.touch(ALICE_VIBER, now=clock.now())
        assert await view.residents.count() == 1
    async with store.snapshot() as view:
        assert await view.residents.count() == 2


async def test_another_process_lock_is_waited_for_without_stalling_the_loop(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "wait.sqlite3"
    store = await SqliteStorage.open(path, busy_timeout_ms=5000)
    blocker = sqlite3.connect(path, isolation_level=None)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        blocker.execute("ROLLBACK")

    try:
        blocker.execute("BEGIN IMMEDIATE")
        beat = asyncio.create_task(ticker())
        release = asyncio.create_task(release_later())
        async with store.transaction() as session:
            await session.residents.touch(ALICE, now=clock.now())
        await release
        beat.cancel()
        # The write waited for the lock (about 0.3 s) while the loop kept running: a busy wait
        # inside SQLite would have frozen the ticker for the whole time.
        assert ticks >= 20
        async with store.snapshot() as view:
            assert await view.residents.get(ALICE) is not None
    finally:
        blocker.close()
        await store.close()


async def test_the_wal_is_checkpointed_off_the_event_loop(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.sqlite import database  # noqa: PLC0415

    monkeypatch.setattr(database, "CHECKPOINT_EVERY", 4)
    path = tmp_path / "wal.sqlite3"
    store = await SqliteStorage.open(path)
    try:
        assert store._db.raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        size = path.stat().st_size
        for batch in range(3):  # under CHECKPOINT_EVERY: everything stays in the WAL
            async with store.transaction() as session:
                for i in range(300):
                    user = UserRef(ChannelName.TELEGRAM, f"{batch}-{i}")
                    await session.residents.touch(user, now=clock.now())
        await asyncio.sleep(0.05)
        assert path.stat().st_size == size
        async with store.transaction() as session:  # the fourth commit starts a checkpoint
            await session.residents.touch(ALICE, now=clock.now())
        for _ in range(200):
            if store._checkpoint_task is None:
                break
            await asyncio.sleep(0.01)
        assert path.stat().st_size > size
    finally:
        await store.close()


async def test_unsent_messages_by_key_prefix_and_their_rewrite(
    store: Storage, clock: ManualClock
) -> None:
    from storage.outbox import NewOutboxMessage  # noqa: PLC0415 - this test's own vocabulary

    def message(key: str) -> NewOutboxMessage:
        return NewOutboxMessage(key, ALICE, "card", "[]", clock.now(), urgent=True)

    async with store.transaction() as session:
        for key in ("req:1:card:staff", "req:1:card:exec:x", "req:1:card_edit:5:1",
                    "req:10:card:staff", "req:1:status:3"):  # fmt: skip
            await session.outbox.enqueue(message(key), now=clock.now())
        sent = await session.outbox.by_key("req:1:card:exec:x")
        assert sent is not None
        await session.outbox.record_progress(sent.id, parts_sent=1, sent_ids=["9"])
        found = await session.outbox.unsent_with_prefix("req:1:card:")
        assert [m.idempotency_key for m in found] == ["req:1:card:staff"]
        assert await session.outbox.rewrite(found[0].id, body='[{"text": "new"}]')
        assert not await session.outbox.rewrite(sent.id, body='[{"text": "new"}]')
        again = await session.outbox.get(found[0].id)
    assert again is not None
    assert again.body == '[{"text": "new"}]'
