"""``python -m bot backup PATH`` and ``python -m bot restore PATH``: copies of the database.

* ``backup`` writes a consistent, checked copy of the database ``DATABASE_URL`` names to PATH
  (a file, or a directory to put ``bot-YYYYmmdd-HHMMSS.sqlite3`` in) while the bot may be
  running: SQLite's online backup API in a read transaction of its own, which does not stop
  the bot's writers (see :mod:`storage.sqlite.backup`). Then a truncating WAL checkpoint, best
  effort. One line on success (path and size), exit code 0.
* ``restore`` puts a copy back. It checks the file first (a SQLite database that passes
  ``PRAGMA integrity_check`` and has the bot's ``schema_migrations``, not newer than this code),
  copies it beside the database, and then, holding the instance lock EXCLUSIVELY (it refuses
  while any process has the database open: :mod:`storage.sqlite.instance`), moves the current
  database aside as ``<db>.before-restore-<timestamp>`` (with its -wal, so the set-aside copy
  is whole) and renames the copy into place; the stale -shm goes. The bot applies any newer
  migrations when it starts.

Every error is one line on stderr and exit code 2; nothing is changed then.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.settings import Settings
from domain.clock import Clock, SystemClock
from notifications.maintenance import backup_name
from storage.errors import ConfigurationError
from storage.maintenance import BackupError, BackupResult
from storage.sqlite.backup import checkpoint_wal, copy_database
from storage.sqlite.database import TRUNCATE_BUSY_TIMEOUT_MS, known_schema_version
from storage.sqlite.instance import InstanceLock, database_file
from storage.url import is_postgres_url

__all__ = ["AdminError", "backup", "restore", "run_admin"]

USAGE = "usage: python -m bot backup PATH | python -m bot restore PATH"


class AdminError(Exception):
    """What stops a backup or a restore, in one line."""


def _database(settings: Settings, base: Path | None) -> Path:
    """The SQLite file of ``DATABASE_URL``."""
    try:
        path = database_file(settings.database_url, base=base)
    except ConfigurationError as error:
        raise AdminError(f"DATABASE_URL: {error}") from error
    if path is None and is_postgres_url(settings.database_url):
        raise AdminError(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump and restore with pg_restore"
            " (README, PostgreSQL); backup and restore here work on SQLite files"
        )
    if path is None:
        raise AdminError(
            "DATABASE_URL names no database file (backup and restore work on SQLite files:"
            " sqlite:///relative/path or sqlite:////absolute/path)"
        )
    return path


def _fail(command: str, error: Exception) -> int:
    print(f"{command} failed: {error}", file=sys.stderr)
    return 2


def backup(
    settings: Settings,
    path: Path | str,
    *,
    base: Path | None = None,
    clock: Clock | None = None,
) -> int:
    """Write a consistent copy of the live database to ``path``; exit code 0, else 2."""
    clock = clock or SystemClock(settings.tz)
    try:
        database = _database(settings, base)
        if not database.is_file():
            raise AdminError(f"no database at {database} (DATABASE_URL)")
        target = Path(path)
        if target.is_dir():
            target = target / backup_name(clock.now(), clock)
        result = copy_database(database, target)
    except (AdminError, BackupError) as error:
        return _fail("backup", error)
    # The copy's read transaction kept the WAL from being reused: cut it now if nobody reads
    # (best effort; the bot's hourly checkpoint does it otherwise).
    with contextlib.suppress(BackupError):
        checkpoint_wal(database, busy_timeout_ms=TRUNCATE_BUSY_TIMEOUT_MS)
    print(f"backup written: {result.path} ({result.size} bytes)")
    return 0


def _aside_name(database: Path, clock: Clock) -> Path:
    """``<db>.before-restore-<local timestamp>``, never one that exists already."""
    stamp = f"{clock.now().astimezone(clock.tz):%Y%m%d-%H%M%S}"
    candidate = database.with_name(f"{database.name}.before-restore-{stamp}")
    number = 1
    while candidate.exists():
        number += 1
        candidate = database.with_name(f"{database.name}.before-restore-{stamp}-{number}")
    return candidate


def _move_aside(database: Path, aside: Path) -> None:
    """Move the database and its journals to ``aside`` (SQLite pairs ``X`` with ``X-wal``, so
    the set-aside database still opens with every commit it had); drop the stale -shm."""
    os.replace(database, aside)
    for suffix in ("-wal", "-journal"):
        journal = database.with_name(database.name + suffix)
        if journal.exists():
            os.replace(journal, aside.with_name(aside.name + suffix))
    database.with_name(database.name + "-shm").unlink(missing_ok=True)


def _put_in_place(staged: Path, database: Path) -> None:
    # A -wal or -shm left from before would be paired with the restored file: never.
    for suffix in ("-wal", "-shm", "-journal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    os.replace(staged, database)
    with contextlib.suppress(OSError):
        descriptor = os.open(database.parent, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def restore(
    settings: Settings,
    path: Path | str,
    *,
    base: Path | None = None,
    clock: Clock | None = None,
) -> int:
    """Replace the database with the copy at ``path``; refuses (2) while the bot runs."""
    clock = clock or SystemClock(settings.tz)
    source = Path(path)
    try:
        database = _database(settings, base)
        if not source.is_file():
            raise AdminError(f"{source} is not a file")
        if database.exists() and source.resolve() == database.resolve():
            raise AdminError(f"{source} is the database itself")
        database.parent.mkdir(parents=True, exist_ok=True)
        lock = InstanceLock(database)
        if not lock.try_acquire(exclusive=True):
            raise AdminError(
                f"the bot is running on {database} (its instance lock {lock.path} is held):"
                " stop every bot process (python -m bot, python -m bot worker) and try again"
            )
    except (AdminError, OSError) as error:
        return _fail("restore", error)
    staged = database.with_name(database.name + ".restoring")
    try:
        result = _stage(source, staged)
        aside = _aside_name(database, clock) if database.exists() else None
        if aside is not None:
            _move_aside(database, aside)
        _put_in_place(staged, database)
    except (AdminError, BackupError, OSError) as error:
        staged.unlink(missing_ok=True)
        return _fail("restore", error)
    finally:
        lock.release()
    kept = f"; the previous database is {aside}" if aside is not None else ""
    print(f"restored {database} from {source} ({result.size} bytes){kept}")
    return 0


def _stage(source: Path, staged: Path) -> BackupResult:
    """A checked copy of ``source`` beside the database (same file system: the final rename
    is atomic), refused when it comes from a newer version of the bot."""
    result = copy_database(source, staged)
    newest = known_schema_version()
    if result.schema_version > newest:
        staged.unlink(missing_ok=True)
        raise AdminError(
            f"{source} comes from a newer version of the bot (schema {result.schema_version};"
            f" this one knows up to {newest})"
        )
    return result


def run_admin(command: str, args: Sequence[str], settings: Settings) -> int:
    """``python -m bot backup PATH`` / ``restore PATH``: the exit code."""
    if command not in {"backup", "restore"} or len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    action = backup if command == "backup" else restore
    return action(settings, args[0])
