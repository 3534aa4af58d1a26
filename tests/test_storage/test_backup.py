"""Consistent copies of the live database and truncating WAL checkpoints, on real SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.clock import ManualClock
from storage.maintenance import BackupError
from storage.sqlite import SqliteStorage
from storage.sqlite.backup import checkpoint_wal, copy_database, verify_database, wal_path
from tests.test_notifications.helpers import ALICE, file_request, make_requests

FILLER_ROWS = 20_000


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
    finally:
        db.close()


def fill(path: Path) -> None:
    """A few megabytes of consultations, so that copying takes a while."""
    with connect(path) as db:
        db.executemany(
            "INSERT INTO consultations (channel, topic, source, matched, question, created_at)"
            " VALUES ('telegram', 'shelters', 'text', 1, ?, '2026-11-01T00:00:00+00:00')",
            ((f"питання {i} " + "x" * 200,) for i in range(FILLER_ROWS)),
        )
        db.commit()


async def test_a_backup_taken_while_requests_are_committed_holds_every_earlier_one(
    db_path: Path, tmp_path: Path, clock: ManualClock
) -> None:
    storage = await SqliteStorage.open(db_path)
    try:
        fill(db_path)
        service = make_requests(clock)
        committed: list[tuple[float, int]] = []  # (monotonic time after the commit, id)
        stop = asyncio.Event()

        async def writer() -> None:
            while not stop.is_set():
                request = await file_request(storage, service, ALICE, clock)
                committed.append((time.monotonic(), request.id))
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        while len(committed) < 20:  # noqa: ASYNC110 - the writer runs between these sleeps
            await asyncio.sleep(0.001)
        started = time.monotonic()
        before = {request_id for _, request_id in committed}
        result = await storage.backup(tmp_path / "copy.sqlite3")
        finished = time.monotonic()
        stop.set()
        await task
    finally:
        await storage.close()

    during = [request_id for at, request_id in committed if started < at < finished]
    assert during, "the writer committed nothing while the backup ran: the test proves nothing"
    assert result.path == tmp_path / "copy.sqlite3"
    assert result.size == result.path.stat().st_size
    with connect(result.path) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        ids = [row[0] for row in copy.execute("SELECT id FROM requests ORDER BY id")]
        history = {
            row[0] for row in copy.execute("SELECT DISTINCT request_id FROM request_history")
        }
        filler = copy.execute("SELECT COUNT(*) FROM consultations").fetchone()[0]
    assert before <= set(ids)
    # One snapshot: the requests committed up to some moment, each with its history.
    assert ids == list(range(1, len(ids) + 1))
    assert history == set(ids)
    assert filler == FILLER_ROWS
    assert not wal_path(result.path).exists()  # a single self-contained file
    assert sorted(p.name for p in tmp_path.glob("*copy*")) == ["copy.sqlite3"]  # noqa: ASYNC240


async def test_the_target_is_replaced_whole_and_a_failed_copy_leaves_nothing(
    storage: SqliteStorage, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "copy.sqlite3"
    with pytest.raises(BackupError, match="does not exist"):
        await storage.backup(target)
    target.parent.mkdir()
    target.write_bytes(b"an older copy")
    await storage.backup(target)
    assert verify_database(target) >= 8

    not_a_database = tmp_path / "notes.sqlite3"
    not_a_database.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError, match=r"not a usable SQLite database"):
        copy_database(not_a_database, target)
    assert verify_database(target) >= 8  # the previous copy is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.sqlite3"]


async def test_verify_refuses_a_database_that_is_not_the_bots(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite3"
    with connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
        db.commit()
    with pytest.raises(BackupError, match="not the bot's"):
        verify_database(foreign)
    with pytest.raises(BackupError, match="no database"):
        copy_database(tmp_path / "missing.sqlite3", tmp_path / "copy.sqlite3")


async def test_a_copy_onto_the_database_itself_is_refused(storage: SqliteStorage) -> None:
    with pytest.raises(BackupError, match="the database itself"):
        await storage.backup(storage.path)


async def test_the_checkpoint_truncates_the_wal_to_zero_bytes(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    service = make_requests(clock)
    for _ in range(5):
        await file_request(storage, service, ALICE, clock)
    wal = wal_path(storage.path)
    assert wal.stat().st_size > 0
    result = await storage.checkpoint()
    assert not result.busy
    assert result.wal_bytes == 0
    assert wal.stat().st_size == 0
    # Everything is in the database file now, and the database goes on working.
    with connect(storage.path) as db:
        assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 5
    await file_request(storage, service, ALICE, clock)
    assert wal.stat().st_size > 0


async def test_a_reader_in_the_middle_of_a_long_query_makes_the_checkpoint_busy_not_stuck(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    service = make_requests(clock)
    await file_request(storage, service, ALICE, clock)
    async with storage.snapshot() as reading:
        await reading.stats.requests_count(start=None, end=None)
        await file_request(storage, service, ALICE, clock)  # newer than the reader's snapshot
        result = await asyncio.wait_for(storage.checkpoint(), 10)
        assert result.busy
    # Once the reader is done the next checkpoint finishes the work.
    assert (await storage.checkpoint()).wal_bytes == 0


def test_checkpoint_of_a_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        checkpoint_wal(tmp_path / "missing.sqlite3")
    assert list(tmp_path.iterdir()) == []
