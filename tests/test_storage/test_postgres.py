"""PostgreSQL-specific behaviour beyond the contract: one migration history with SQLite, the
column types, migrating once when instances start together, busy and unreachable servers, the
URL dispatch. The contract itself runs on both backends in test_contract.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from storage.errors import DatabaseUnreachable, StorageBusy
from storage.open import maintenance_of, open_storage
from storage.postgres import PostgresStorage
from storage.postgres.database import known_schema_version
from storage.sqlite import SqliteStorage
from tests.postgres import fresh_schema, postgres_storage

ALICE = UserRef(ChannelName.TELEGRAM, "1")
ROOT = Path(__file__).resolve().parents[2]


def test_both_backends_have_one_numbered_history() -> None:
    sqlite = sorted(path.name for path in (ROOT / "storage/sqlite/migrations").glob("*.sql"))
    postgres = sorted(path.name for path in (ROOT / "storage/postgres/migrations").glob("*.sql"))
    assert sqlite == postgres
    assert [int(name[:4]) for name in postgres] == list(range(1, len(postgres) + 1))


async def test_times_booleans_and_identities_have_their_own_types() -> None:
    async with postgres_storage() as storage, storage.snapshot() as view:
        db = view.db
        cursor = await db.execute(
            "SELECT table_name, column_name, data_type, is_identity, identity_generation"
            " FROM information_schema.columns WHERE table_schema = current_schema()"
        )
        columns = {(row["table_name"], row["column_name"]): row for row in await cursor.fetchall()}
    assert columns["residents", "first_seen"]["data_type"] == "timestamp with time zone"
    assert columns["requests", "resolve_due"]["data_type"] == "timestamp with time zone"
    assert columns["residents", "blocked"]["data_type"] == "boolean"
    assert columns["outbox", "urgent"]["data_type"] == "boolean"
    assert columns["consultations", "helpful"]["data_type"] == "boolean"
    for table in ("residents", "outbox", "requests", "request_history", "followups"):
        identity = columns[table, "id"]
        assert (identity["data_type"], identity["is_identity"]) == ("bigint", "YES")
        assert identity["identity_generation"] == "ALWAYS"
    # No column is left as SQLite's text time or integer flag.
    texts = {name for (_, name), row in columns.items() if row["data_type"] == "text"}
    assert not {name for name in texts if name.endswith(("_at", "_due", "_seen"))}


async def test_instances_starting_at_once_migrate_once() -> None:
    async with fresh_schema() as url:
        first, second, third = await asyncio.gather(
            *(PostgresStorage.open(url, pool_size=2) for _ in range(3))
        )
        try:
            assert await first.schema_version() == known_schema_version()
            assert await first.migrate() == []
            async with first.snapshot() as view:
                cursor = await view.db.execute(
                    "SELECT COUNT(*) AS n, COUNT(DISTINCT version) AS d FROM schema_migrations"
                )
                row = await cursor.fetchone()
            assert row is not None
            assert row["n"] == row["d"] == known_schema_version()
        finally:
            for storage in (first, second, third):
                await storage.close()


async def test_a_lock_held_elsewhere_is_reported_as_busy(clock: ManualClock) -> None:
    async with fresh_schema() as url:
        storage = await PostgresStorage.open(url, busy_timeout_ms=100)
        try:
            async with await psycopg.AsyncConnection.connect(url) as other:
                await other.execute("LOCK TABLE residents IN ACCESS EXCLUSIVE MODE")
                await other.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
                with pytest.raises(StorageBusy):
                    await _touch(storage, clock)
                with pytest.raises(StorageBusy):
                    await storage.probe_write()  # what /readyz asks
                await other.rollback()
            await _touch(storage, clock)
            await storage.probe_write()
        finally:
            await storage.close()


async def _touch(storage: PostgresStorage, clock: ManualClock) -> None:
    async with storage.transaction() as session:
        await session.residents.touch(ALICE, now=clock.now())


async def test_an_unreachable_server_is_one_clear_error() -> None:
    where = r"cannot connect to PostgreSQL at 127\.0\.0\.1:1/x"
    with pytest.raises(DatabaseUnreachable, match=where):
        await PostgresStorage.open("postgresql://nobody@127.0.0.1:1/x", connect_timeout=2)


async def test_a_cancelled_transaction_leaves_the_pool_usable(clock: ManualClock) -> None:
    async with postgres_storage(pool_size=2) as storage:
        started = asyncio.Event()

        async def slow() -> None:
            async with storage.transaction() as session:
                await session.residents.touch(ALICE, now=clock.now())
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(10):  # cancel at other points too
            attempt = asyncio.create_task(slow())
            await asyncio.sleep(0)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
        async with storage.transaction() as session:
            assert await session.residents.get(ALICE) is None
        await storage.probe_write()


async def test_one_process_runs_its_transactions_concurrently(clock: ManualClock) -> None:
    """No process-wide lock: a transaction held open (a resident's message waiting on a row
    lock, a slow job) does not stop another resident's message in the same process."""
    bob = UserRef(ChannelName.TELEGRAM, "2002")
    async with postgres_storage(pool_size=3) as storage:
        held, other_done = asyncio.Event(), asyncio.Event()

        async def holder() -> None:
            async with storage.transaction() as session:
                await session.residents.touch(ALICE, now=clock.now())
                held.set()
                await asyncio.wait_for(other_done.wait(), 5)

        async def other() -> None:
            await held.wait()
            async with storage.transaction() as session:
                await session.residents.touch(bob, now=clock.now())
            other_done.set()

        await asyncio.gather(holder(), other())
        async with storage.transaction() as session:
            assert await session.residents.get(ALICE) is not None
            assert await session.residents.get(bob) is not None
        # The pool bounds them: more than its size wait for a free connection, not fail.
        results = await asyncio.gather(*(storage.probe_write() for _ in range(10)))
        assert results == [None] * 10


async def test_the_url_picks_the_backend(tmp_path: Path) -> None:
    async with fresh_schema() as url:
        server = await open_storage(url, pool_size=2)
        try:
            assert isinstance(server, PostgresStorage)
            assert maintenance_of(server) is None  # pg_dump backs it up, not the bot
            assert await server.schema_version() == server.known_schema_version()
        finally:
            await server.close()
    local = await open_storage("sqlite:///bot.sqlite3", base=tmp_path)
    try:
        assert isinstance(local, SqliteStorage)
        assert maintenance_of(local) is local
    finally:
        await local.close()
