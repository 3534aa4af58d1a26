"""``python -m bot migrate-data``: a real SQLite file, filled through the services and stores,
moved into a fresh PostgreSQL schema by the command line, then read back through the stores.

Every table the migrations create gets rows (the test fails when one is left empty, so a table
added later is covered or noticed), and every row is compared value by value as well.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.media import media_ref
from domain.requests import Actor, Status, format_number
from services.open311_keys import ApiKeys
from services.requests import RequestService
from storage.base import ConversationState, Storage, StoreSession
from storage.consultations import NewConsultation, NewSuggestions
from storage.followups import DeadlineKind, FollowupOutcome
from storage.open311 import ApiScope, AuditEntry, PostedUpdate
from storage.outbox import OutboxStatus
from storage.postgres import PostgresStorage
from storage.relay import RelayDirection
from storage.sqlite import SqliteStorage
from tests.postgres import fresh_schema
from tests.test_services.helpers import ALICE, BOB, ROADS, STAFF, WATER, make_service

ROOT = Path(__file__).resolve().parents[2]
STAFF_CHAT = STAFF.user_id


def run_bot(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VIBER_", "DATABASE_", "OPS_", "LOG_", "MEDIA_"))
    }
    environment["PYTHONPATH"] = str(ROOT)
    environment["OPS_PORT"] = ""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def migrate(source: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_bot(
        source.parent, "migrate-data", "--from", f"sqlite:///{source}", "--to", target, *extra
    )


@dataclass(frozen=True)
class Built:
    alice: int
    bob: int
    requests: tuple[int, ...]  # the ids still there
    relay_session: int


async def build_source(path: Path, clock: ManualClock) -> Built:
    """A SQLite database with rows in every table, written the way the bot writes them."""
    service = make_service(clock)
    keys = ApiKeys(clock)
    storage = await SqliteStorage.open(path)
    try:
        async with storage.transaction() as session:
            alice = await session.residents.touch(ALICE, now=clock.now(), display_name="Аліса")
            bob = await session.residents.touch(BOB, now=clock.now())
            await session.residents.set_consent(alice.id, True, now=clock.now())
            await session.residents.set_language(bob.id, "en")
            await session.residents.set_blocked(bob.id, True)
            await session.conversations.save(
                alice.id,
                ConversationState("describe", {"category": "water", "text": "вода\x00 є?"}),
                now=clock.now(),
            )
            await session.updates.remember("telegram:1001", now=clock.now())
            alice = await session.residents.get_by_id(alice.id)  # type: ignore[assignment]
            assert alice is not None
            water = await service.create(session, alice, WATER)
        clock.advance(timedelta(minutes=5))
        async with storage.transaction() as session:
            roads = await service.create(session, bob, ROADS)
            gone = await service.create(session, bob, ROADS)
        clock.advance(timedelta(hours=1))
        operator = Actor.operator("42", "Оператор")
        async with storage.transaction() as session:
            for status in (Status.ACCEPTED, Status.IN_PROGRESS, Status.DONE):
                await service.change_status(session, water.id, status, operator)
                clock.advance(timedelta(minutes=10))
            done = await session.requests.get(water.id)
            assert done is not None
            assert done.done_at is not None
            followup = await session.followups.create(
                request_id=water.id,
                resolution_at=done.done_at,
                resident_id=alice.id,
                now=clock.now(),
            )
            assert followup is not None
            await session.followups.answer(followup.id, FollowupOutcome.YES, now=clock.now())
            await session.followups.set_rating(followup.id, 5)
            await session.followups.set_comment(followup.id, "Дякую!")
            await session.escalations.record(
                roads.id, DeadlineKind.ACKNOWLEDGE, roads.ack_due, now=clock.now()
            )
            await session.card_copies.add(water.id, STAFF, "777", caption=True, now=clock.now())
            await session.staff_prompts.add(
                chat_id=STAFF_CHAT,
                thread_id=None,
                prompt_message_id="778",
                user_id="42",
                action="reject",
                request_id=roads.id,
                card_chat_id=STAFF_CHAT,
                card_message_id="777",
                now=clock.now(),
            )
            relay, _ = await session.relay.open(bob.id, now=clock.now())
            await session.relay.set_staff_chat(relay.id, STAFF)
            await session.relay.mark_header_sent(relay.id)
            await session.relay.set_request(relay.id, roads.id)
            await session.relay.add_message(
                relay.id, RelayDirection.IN, text="Добрий\x00день", photo_ref=None, now=clock.now()
            )
            await session.relay.add_message(
                relay.id,
                RelayDirection.OUT,
                text="Вітаю",
                photo_ref=None,
                now=clock.now(),
                author="42",
                forwarded=True,
            )
            await session.relay.add_topic(STAFF_CHAT, bob.id, 91, now=clock.now())
            await session.relay.remember_staff_message(STAFF_CHAT, "779", relay.id)
            await session.relay.close(relay.id, by="42", outcome="answered", now=clock.now())
            consultation = await session.consultations.record(
                NewConsultation(
                    alice.id, ChannelName.TELEGRAM, "shelters", "text", True, 0.91, "де укриття?"
                ),
                now=clock.now(),
            )
            await session.consultations.set_helpful(consultation, alice.id, False)
            await session.consultations.record(
                NewConsultation(bob.id, ChannelName.VIBER, None, "text", False, None, "???"),
                now=clock.now(),
            )
            offer = await session.consultations.offer_suggestions(
                NewSuggestions(
                    alice.id, ChannelName.TELEGRAM, "довідка", ("idp_certificate", "housing"), 0.4
                ),
                now=clock.now(),
            )
            await session.consultations.take_suggestion(
                offer, alice.id, "idp_certificate", now=clock.now()
            )
            await session.stats.count_proactive(ChannelName.VIBER, "2026-11", billed=2, free=3)
            key, _ = await keys.create(session, "back-office", ApiScope.WRITE)
            await keys.create(session, "old", ApiScope.READ)
            await keys.revoke(session, "old")
            history = await session.requests.history(roads.id)
            await session.open311.remember_update(
                PostedUpdate("bo-1", roads.id, history[-1].id, key.name, clock.now())
            )
            await session.open311.record_write(
                AuditEntry(key.name, clock.now(), "POST", "/open311/v2/requests.json", 201, "x")
            )
            pending = await session.outbox.list(status=OutboxStatus.PENDING, limit=100)
            await session.outbox.mark_sent(pending[0].id, now=clock.now(), sent_ids=["5001"])
    finally:
        await storage.close()
    # A request whose row is gone (removed by hand): SQLite's AUTOINCREMENT never gives its
    # number out again, and PostgreSQL must not either.
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM requests WHERE id = ?", (gone.id,))
        db.commit()
    return Built(alice.id, bob.id, (water.id, roads.id), relay.id)


@pytest.fixture
async def target() -> AsyncIterator[str]:
    async with fresh_schema() as url:
        yield url


@pytest.fixture
async def source(tmp_path: Path, clock: ManualClock) -> tuple[Path, Built]:
    path = tmp_path / "bot.sqlite3"
    return path, await build_source(path, clock)


def _tables(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [
            str(row[0])
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name"
            )
        ]


def _sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        columns = [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]
        rows = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    return [tuple(zip(columns, row, strict=True)) for row in rows]


async def _postgres_rows(url: str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as db:
        names = ", ".join(columns)
        cursor = await db.execute(f"SELECT {names} FROM {table} ORDER BY 1, 2")
        rows = await cursor.fetchall()
    return [tuple(zip(columns, row, strict=True)) for row in rows]


def _same(sqlite_value: object, postgres_value: object) -> bool:
    if isinstance(postgres_value, datetime):
        assert isinstance(sqlite_value, str)
        return datetime.fromisoformat(sqlite_value) == postgres_value
    if isinstance(postgres_value, bool):
        return sqlite_value in (0, 1) and bool(sqlite_value) is postgres_value
    if isinstance(sqlite_value, str) and isinstance(postgres_value, str):
        return sqlite_value.replace("\x00", "\ufffd") == postgres_value
    return sqlite_value == postgres_value


async def _postgres_counts(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(url) as db:
        cursor = await db.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name != 'schema_migrations'"
        )
        counts = {}
        for (name,) in await cursor.fetchall():
            cursor = await db.execute(f"SELECT count(*) FROM {name}")
            row = await cursor.fetchone()
            assert row is not None
            counts[str(name)] = int(row[0])
    return counts


async def _read(storage: Storage, built: Built, service: RequestService) -> dict[str, object]:
    """What the bot reads back, through the stores and services."""
    seen: dict[str, object] = {}
    async with storage.transaction() as session:
        s: StoreSession = session
        seen["alice"] = await s.residents.get(ALICE)
        seen["bob"] = await s.residents.get_by_id(built.bob)
        seen["state"] = await s.conversations.load(built.alice)
        seen["update seen"] = await s.updates.seen("telegram:1001")
        seen["alice's requests"] = await service.list_for_resident(s, built.alice)
        seen["bob's requests"] = await service.list_for_resident(s, built.bob)
        for number in built.requests:
            seen[f"find {number}"] = await service.find(s, format_number(number))
            seen[f"history {number}"] = await s.requests.history(number)
            seen[f"followup {number}"] = await s.followups.latest_for_request(number)
            seen[f"cards {number}"] = await s.card_copies.for_request(number)
        seen["find phone"] = await service.find(s, "0671234567")
        seen["by status"] = await s.requests.count_by_status()
        seen["relay"] = await s.relay.messages(built.relay_session)
        seen["relay session"] = await s.relay.latest_for(built.bob)
        seen["topic"] = await s.relay.resident_by_topic(STAFF_CHAT, 91)
        seen["staff message"] = await s.relay.session_by_staff_message(STAFF, "779")
        seen["prompt"] = await s.staff_prompts.by_reply(STAFF_CHAT, "778")
        for status in OutboxStatus:
            seen[f"outbox {status}"] = await s.outbox.list(status=status, limit=100)
        seen["keys"] = await s.open311.list_keys()
        seen["audit"] = await s.open311.audit_log()
        seen["posted"] = await s.open311.posted_update("bo-1")
        seen["consultations"] = await s.consultations.total()
        seen["not helpful"] = await s.consultations.not_helpful(limit=10)
        seen["bill"] = await s.stats.proactive_bill(ChannelName.VIBER, "2026-11")
        for field in ("category", "district", "executor_id", "status", "channel"):
            seen[f"by {field}"] = await s.stats.requests_by(field, start=None, end=None)
        seen["count"] = await s.stats.requests_count(start=None, end=None)
        seen["resolutions"] = await s.stats.resolutions(start=None, end=None)
        seen["answers"] = await s.stats.followup_answers(start=None, end=None)
        seen["rating"] = await s.stats.rating_summary(start=None, end=None)
        seen["topics"] = await s.stats.consultations_by_topic(start=None, end=None)
        seen["export"] = await s.stats.export_requests(start=None, end=None, personal=True)
    return seen


async def test_a_sqlite_database_moves_to_postgres_and_reads_back_the_same(
    source: tuple[Path, Built], target: str, clock: ManualClock
) -> None:
    path, built = source
    done = migrate(path, target)
    assert done.returncode == 0, done.stderr
    assert "committed:" in done.stdout
    assert "row count matches" in done.stdout
    assert "the next request will be 1520-000004" in done.stdout  # 3 was given out, then lost
    tables = _tables(path)
    for table in tables:
        assert f"  {table} " in done.stdout
    # Every table has rows (a table added later without rows here would go unchecked) and
    # every row arrived with the same values.
    counts = await _postgres_counts(target)
    assert set(counts) == set(tables)
    assert all(counts.values()), f"tables the test leaves empty: {counts}"
    for table in tables:
        expected = _sqlite_rows(path, table)
        columns = [name for name, _ in expected[0]]
        arrived = await _postgres_rows(target, table, columns)
        assert len(arrived) == len(expected), table
        for old_row, new_row in zip(expected, arrived, strict=True):
            for (column, old), (_, new) in zip(old_row, new_row, strict=True):
                assert _same(old, new), f"{table}.{column}: {old!r} became {new!r}"

    service = make_service(clock)
    sqlite_storage = await SqliteStorage.open(path)
    try:
        before = await _read(sqlite_storage, built, service)
    finally:
        await sqlite_storage.close()
    postgres = await PostgresStorage.open(target)
    try:
        after = await _read(postgres, built, service)
        for what, value in before.items():
            if what != "relay":
                assert after[what] == value, what
        # JSON escapes a NUL (\u0000): the state reads back as it was. Plain text cannot hold
        # one in PostgreSQL: it becomes U+FFFD, as the PostgreSQL backend stores it.
        assert after["state"] == ConversationState(
            "describe", {"category": "water", "text": "вода\x00 є?"}
        )
        relayed = after["relay"]
        assert isinstance(relayed, list)
        assert [m.text for m in relayed] == ["Добрий\ufffdдень", "Вітаю"]
        # New rows continue after the old ones: no id is given out twice.
        async with postgres.transaction() as session:
            carol = await session.residents.touch(
                UserRef(ChannelName.TELEGRAM, "3003"), now=clock.now()
            )
            assert carol.id > max(built.alice, built.bob)
            created = await service.create(session, carol, WATER)
            assert created.number == "1520-000004"
            relay, _ = await session.relay.open(carol.id, now=clock.now())
            assert relay.id > built.relay_session
            key, _ = await ApiKeys(clock).create(session, "new", ApiScope.READ)
            assert key.id == 3
        async with postgres.transaction() as session:
            assert [r.id for r in await service.list_for_resident(session, carol.id)] == [4]
    finally:
        await postgres.close()


async def test_a_target_with_data_is_refused_and_left_alone(
    source: tuple[Path, Built], target: str
) -> None:
    path, _ = source
    assert migrate(path, target).returncode == 0
    counts = await _postgres_counts(target)
    again = migrate(path, target)
    assert again.returncode == 2
    assert again.stderr.startswith("migrate-data refused: the target database is not empty")
    assert await _postgres_counts(target) == counts


async def test_a_target_with_rows_is_refused_before_it_is_migrated(
    source: tuple[Path, Built], target: str
) -> None:
    path, _ = source
    async with await psycopg.AsyncConnection.connect(target, autocommit=True) as db:
        await db.execute("CREATE TABLE notes (id bigint PRIMARY KEY)")
        await db.execute("INSERT INTO notes VALUES (1)")
    refused = migrate(path, target)
    assert refused.returncode == 2
    assert refused.stderr == (
        "migrate-data refused: the target database is not empty (rows in notes): migrate-data"
        " only fills an empty database; give it a new database or schema\n"
    )
    assert await _postgres_counts(target) == {"notes": 1}  # no migration applied


# The code's newest schema version: the highest numbered migration file.
LATEST = max(int(path.name[:4]) for path in (ROOT / "storage/sqlite/migrations").glob("*.sql"))


@pytest.mark.parametrize(
    ("version", "said"),
    [
        (
            LATEST - 1,
            f"is at schema {LATEST - 1}, this code at {LATEST}:"
            " start the bot once on the SQLite file",
        ),
        (LATEST + 1, f"is at schema {LATEST + 1}, newer than this code's {LATEST}"),
    ],
)
async def test_a_source_at_another_schema_version_is_refused(
    source: tuple[Path, Built], target: str, version: int, said: str
) -> None:
    path, _ = source
    with closing(sqlite3.connect(path)) as db:
        db.execute("DELETE FROM schema_migrations WHERE version > ?", (version,))
        if version > LATEST:
            db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, '2027-01-01')",
                (version, f"{version:04d}_future.sql"),
            )
        db.commit()
    refused = migrate(path, target)
    assert refused.returncode == 2
    assert said in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not await _postgres_counts(target)  # not even migrated


async def test_a_column_on_one_side_only_is_refused(
    source: tuple[Path, Built], target: str
) -> None:
    path, _ = source
    with closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE requests ADD COLUMN priority INTEGER")
        db.commit()
    async with await psycopg.AsyncConnection.connect(target, autocommit=True) as db:
        await db.execute("CREATE TABLE notes (id bigint PRIMARY KEY)")
    refused = migrate(path, target)
    assert refused.returncode == 2
    assert "column requests.priority exists in SQLite only" in refused.stderr
    assert "table notes exists in PostgreSQL only" in refused.stderr
    assert not any((await _postgres_counts(target)).values())


async def test_a_failure_mid_copy_leaves_the_target_empty(
    source: tuple[Path, Built], target: str
) -> None:
    path, _ = source
    # The last table in foreign-key order gets a time PostgreSQL cannot take: every table
    # before it has been written into the transaction by then.
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE api_updates SET at = 'yesterday'")
        db.commit()
    failed = migrate(path, target)
    assert failed.returncode == 1
    assert "  requests " in failed.stdout
    assert "  request_history " in failed.stdout
    assert failed.stderr.strip() == (
        "migrate-data failed: api_updates (update_id='bo-1'), column at: 'yesterday' is not an"
        " ISO 8601 time (rolled back: the target has its empty tables and no rows)"
    )
    counts = await _postgres_counts(target)
    assert counts
    assert not any(counts.values()), counts
    # Fixed, it goes through.
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE api_updates SET at = '2026-11-25T12:00:00.000000+00:00'")
        db.commit()
    assert migrate(path, target).returncode == 0


async def test_media_are_copied_with_media_to(
    source: tuple[Path, Built], target: str, tmp_path: Path
) -> None:
    path, _ = source
    media = tmp_path / "media"
    media.mkdir()
    data = b"\xff\xd8\xff\xe0" + b"photo" * 10
    name = media_ref(hashlib.sha256(data).hexdigest(), "jpg").removeprefix("media:")
    (media / name).write_bytes(data)
    (media / "notes.txt").write_text("not a kept photo")
    moved = migrate(path, target, "--media-to", str(tmp_path / "shared"))
    assert moved.returncode == 0, moved.stderr
    assert f"media: copied 1 photo files from {media} to {tmp_path / 'shared'}" in moved.stdout
    assert (tmp_path / "shared" / name).read_bytes() == data
    assert not (tmp_path / "shared" / "notes.txt").exists()


async def test_media_left_in_place_are_named_in_the_summary(
    source: tuple[Path, Built], target: str, tmp_path: Path
) -> None:
    path, _ = source
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / ("a" * 64 + ".png")).write_bytes(b"\x89PNG....")
    moved = migrate(path, target)
    assert moved.returncode == 0, moved.stderr
    assert f"media: 1 photo files (8 bytes) in {tmp_path / 'media'} are not in the database" in (
        moved.stdout
    )


async def test_a_source_in_use_is_copied_from_a_snapshot_with_a_warning(
    source: tuple[Path, Built], target: str
) -> None:
    path, _ = source
    storage = await SqliteStorage.open(path)  # a bot still running on the file
    try:
        moved = migrate(path, target)
    finally:
        await storage.close()
    assert moved.returncode == 0, moved.stderr
    assert f"warning: a bot has {path} open" in moved.stderr


def test_usage_errors_and_what_cannot_be_reached(tmp_path: Path) -> None:
    missing = migrate(tmp_path / "nothing.sqlite3", "postgresql://root@127.0.0.1:5432/test")
    assert missing.returncode == 2
    assert missing.stderr == (
        f"migrate-data refused: no SQLite database at {tmp_path / 'nothing.sqlite3'}\n"
    )
    usage = run_bot(tmp_path, "migrate-data", "--from", "sqlite:///x.sqlite3")
    assert usage.returncode == 2
    assert usage.stderr.startswith("usage: python -m bot migrate-data")
    wrong = run_bot(tmp_path, "migrate-data", "--from", "x", "--to", "postgresql://h/db")
    assert wrong.returncode == 2
    assert "--from must be a SQLite URL" in wrong.stderr


async def test_an_unreachable_server_is_one_line(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "bot.sqlite3"
    storage = await SqliteStorage.open(path)
    await storage.close()
    failed = migrate(path, "postgresql://root@127.0.0.1:1/test")
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("migrate-data failed: cannot connect to PostgreSQL at 127.0.0.1:1/")
