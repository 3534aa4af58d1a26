"""``python -m bot backup PATH`` / ``restore PATH``: exit codes, one-line errors, round trips."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.admin import backup, restore, run_admin
from bot.settings import Settings
from domain.clock import ManualClock
from storage.sqlite import SqliteStorage
from tests.test_notifications.helpers import ALICE, BOB, file_request, make_requests

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
    finally:
        db.close()


def settings_for(db_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=f"sqlite:///{db_path}")


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


async def add_request(db_path: Path, clock: ManualClock) -> int:
    storage = await SqliteStorage.open(db_path)
    try:
        request = await file_request(storage, make_requests(clock), ALICE, clock)
        return request.id
    finally:
        await storage.close()


def names(folder: Path, *, containing: str = "") -> list[str]:
    return sorted(p.name for p in folder.iterdir() if containing in p.name)


def request_ids(db_path: Path) -> list[int]:
    with connect(db_path) as db:
        return [row[0] for row in db.execute("SELECT id FROM requests ORDER BY id")]


async def test_backup_writes_a_copy_and_says_where_and_how_big(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_request(db_path, clock)
    target = tmp_path / "copy.sqlite3"
    assert backup(settings_for(db_path), target) == 0
    out, err = capsys.readouterr()
    assert one_line(out) == f"backup written: {target} ({target.stat().st_size} bytes)"
    assert err == ""
    assert request_ids(target) == [1]

    folder = tmp_path / "backups"
    folder.mkdir()
    assert backup(settings_for(db_path), folder, clock=clock) == 0
    assert names(folder) == ["bot-20261125-140000.sqlite3"]
    capsys.readouterr()


async def test_backup_while_the_bot_has_the_database_open(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = await SqliteStorage.open(db_path)
    try:
        await file_request(storage, make_requests(clock), ALICE, clock)
        assert backup(settings_for(db_path), tmp_path / "live.sqlite3") == 0
        await file_request(storage, make_requests(clock), BOB, clock)
    finally:
        await storage.close()
    assert request_ids(tmp_path / "live.sqlite3") == [1]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("url", "target", "message"),
    [
        ("{db}", "{tmp}/missing/copy.sqlite3", "directory {tmp}/missing does not exist"),
        (
            "sqlite:///{tmp}/nothing.sqlite3",
            "{tmp}/copy.sqlite3",
            "no database at {tmp}/nothing.sqlite3 (DATABASE_URL)",
        ),
        (
            "postgresql://u@127.0.0.1:5432/test",
            "{tmp}/c.sqlite3",
            "DATABASE_URL is PostgreSQL: back it up with pg_dump",
        ),
        ("{db}", "{db}", "{db_file} is the database itself"),
    ],
)
async def test_backup_errors_are_one_line_and_exit_code_2(
    url: str,
    target: str,
    message: str,
    db_path: Path,
    tmp_path: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await add_request(db_path, clock)
    before = names(tmp_path)
    fill = {"db": f"sqlite:///{db_path}", "tmp": str(tmp_path), "db_file": str(db_path)}
    settings = Settings(_env_file=None, database_url=url.format(**fill))
    path = target.format(**fill).removeprefix("sqlite:///")
    assert backup(settings, path) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err).startswith("backup failed: " + message.format(**fill))
    assert names(tmp_path) == before


async def test_restore_round_trips(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_request(db_path, clock)
    copy = tmp_path / "copy.sqlite3"
    assert backup(settings_for(db_path), copy) == 0
    await add_request(db_path, clock)  # a change after the backup
    assert request_ids(db_path) == [1, 2]
    capsys.readouterr()

    assert restore(settings_for(db_path), copy, clock=clock) == 0
    out, err = capsys.readouterr()
    aside = db_path.with_name(f"{db_path.name}.before-restore-20261125-140000")
    assert one_line(out) == (
        f"restored {db_path} from {copy} ({copy.stat().st_size} bytes);"
        f" the previous database is {aside}"
    )
    assert err == ""
    assert request_ids(db_path) == [1]  # the change is gone
    assert request_ids(aside) == [1, 2]  # and kept aside, whole
    assert not db_path.with_name(db_path.name + ".restoring").exists()
    # The bot opens the restored database and goes on numbering from there.
    assert await add_request(db_path, clock) == 2

    # A second restore in the same second does not overwrite the first set-aside copy.
    assert restore(settings_for(db_path), copy, clock=clock) == 0
    capsys.readouterr()
    assert aside.exists()
    assert aside.with_name(aside.name + "-2").exists()


async def test_restore_into_an_empty_place(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_request(db_path, clock)
    copy = tmp_path / "copy.sqlite3"
    assert backup(settings_for(db_path), copy) == 0
    fresh = tmp_path / "new" / "data" / "bot.sqlite3"
    assert restore(settings_for(fresh), copy) == 0
    assert one_line(capsys.readouterr().out.splitlines()[-1]).startswith(f"restored {fresh}")
    assert request_ids(fresh) == [1]


async def test_restore_refuses_while_the_bot_has_the_database_open(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_request(db_path, clock)
    copy = tmp_path / "copy.sqlite3"
    assert backup(settings_for(db_path), copy) == 0
    capsys.readouterr()
    storage = await SqliteStorage.open(db_path)
    try:
        await file_request(storage, make_requests(clock), BOB, clock)
        assert restore(settings_for(db_path), copy) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert one_line(err).startswith(f"restore failed: the bot is running on {db_path}")
        await file_request(storage, make_requests(clock), BOB, clock)  # nothing was disturbed
    finally:
        await storage.close()
    assert request_ids(db_path) == [1, 2, 3]
    assert names(tmp_path, containing="restor") == []


def test_restore_refuses_while_a_bot_process_runs(
    db_path: Path, tmp_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(add_request(db_path, clock))
    copy = tmp_path / "copy.sqlite3"
    assert backup(settings_for(db_path), copy) == 0
    capsys.readouterr()
    bot = textwrap.dedent(
        f"""
        import asyncio, sys
        from storage.sqlite import open_storage

        async def main() -> None:
            storage = await open_storage({f"sqlite:///{db_path}"!r})
            try:
                print("running", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
            finally:
                await storage.close()

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", bot],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        assert process.stdout.readline().strip() == "running"
        assert restore(settings_for(db_path), copy) == 2
        assert "the bot is running" in one_line(capsys.readouterr().err)
        process.stdin.write("stop\n")
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
    assert restore(settings_for(db_path), copy) == 0  # stopped: now it may


def foreign_database(path: Path) -> None:
    with connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.commit()


def newer_database(path: Path) -> None:
    with connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 'now')")
        db.commit()


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        ("missing", "is not a file"),
        ("garbage", "is not a usable SQLite database"),
        ("foreign", "is a SQLite database but not the bot's (no schema_migrations table)"),
        ("newer", "comes from a newer version of the bot (schema 999;"),
    ],
)
async def test_restore_refuses_what_is_not_a_sound_copy_of_the_bots_database(
    prepare: str,
    message: str,
    db_path: Path,
    tmp_path: Path,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await add_request(db_path, clock)
    source = tmp_path / "source.sqlite3"
    if prepare == "garbage":
        source.write_bytes(b"SQLite format 3\x00" + b"\x07" * 5000)
    elif prepare == "foreign":
        foreign_database(source)
    elif prepare == "newer":
        assert backup(settings_for(db_path), source) == 0
        newer_database(source)
    capsys.readouterr()
    files = names(tmp_path)
    assert restore(settings_for(db_path), source) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = one_line(err)
    assert line.startswith("restore failed: ")
    assert message in line
    assert names(tmp_path) == files
    assert request_ids(db_path) == [1]


def test_run_admin_usage(capsys: pytest.CaptureFixture[str], db_path: Path) -> None:
    assert run_admin("backup", [], settings_for(db_path)) == 2
    assert run_admin("restore", ["a", "b"], settings_for(db_path)) == 2
    assert one_line(capsys.readouterr().err.splitlines()[-1]).startswith("usage:")
