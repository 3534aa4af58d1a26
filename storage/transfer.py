"""Moving a SQLite database to PostgreSQL: ``python -m bot migrate-data --from ... --to ...``.

What happens, in order (no row is written to the target before step 5; the target is refused
before it is even migrated when any table of its schema has rows):

1. **A snapshot of the source.** The SQLite file is copied with SQLite's online backup API into
   a temporary file beside it (:func:`storage.sqlite.backup.copy_database`: one read
   transaction, so the copy is consistent even while a bot writes; then ``PRAGMA
   integrity_check``). Every row is read from that copy, never from the live file. A bot that
   keeps running on the source goes on writing after the snapshot: those rows are not moved
   (the caller is told when the source is in use; stop the bot for the final move).
2. **Schema versions.** The source must be at the newest migration this code knows (otherwise
   start the bot once on it: it migrates itself); the target is migrated to the same version
   by :class:`~storage.postgres.PostgresStorage`, and refused when it is newer.
3. **The schemas themselves are compared**, not a hand-kept list: every table and column the
   SQLite file has (``PRAGMA table_info``) must exist in PostgreSQL (``information_schema``) and
   the other way round, with compatible types, except the bookkeeping each backend keeps for
   itself (``schema_migrations``, SQLite's ``sqlite_*`` tables). A migration written for one
   backend only is caught here instead of losing a column's data.
4. **Order** comes from the target's foreign keys: parents before children.
5. **One transaction on the target**: every table locked, checked to be empty (a non-empty
   target is refused: nothing is merged or overwritten), then copied with ``COPY ... FROM
   STDIN`` in batches, converting as the PostgreSQL column says: ISO 8601 text to
   ``timestamptz`` (the UTC offset the text carries is kept; text without one is an error, not
   a guess), 0/1 to ``boolean``, JSON text stays text (or is parsed by ``jsonb`` if a column is
   ever declared so), NUL characters in text become U+FFFD as the PostgreSQL backend stores them
   (:mod:`storage.postgres.text`). Primary keys are kept, so request numbers do not change.
   Every identity sequence is then set past the highest id (and past SQLite's
   ``sqlite_sequence`` for AUTOINCREMENT tables: a number given out once is never given out
   again, even when its row is gone), and every table's row count is compared with the
   source's. Any failure rolls the whole transaction back: the target keeps its (empty,
   migrated) tables and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from storage.errors import ConfigurationError, DatabaseUnreachable, MigrationError
from storage.maintenance import BackupError
from storage.postgres.database import PostgresStorage, _where
from storage.postgres.database import known_schema_version as postgres_schema_version
from storage.postgres.text import NUL_REPLACEMENT
from storage.sqlite.backup import copy_database
from storage.sqlite.database import known_schema_version as sqlite_schema_version
from storage.sqlite.instance import InstanceLock

__all__ = [
    "BOOKKEEPING_TABLES",
    "TableCopy",
    "TransferFailed",
    "TransferRefused",
    "TransferResult",
    "target_name",
    "transfer",
]

# Tables each backend fills for itself: never copied, never compared.
BOOKKEEPING_TABLES = frozenset({"schema_migrations"})

# Rows read from the snapshot and handed to COPY at a time.
BATCH_ROWS = 5000

# How long the target's tables are waited for (something else has them open: a bot started on
# the target too early) before giving up.
LOCK_TIMEOUT_MS = 10_000

# The PostgreSQL types a SQLite column's declared type may land in.
_COMPATIBLE = {
    "INTEGER": frozenset({"bigint", "integer", "smallint", "boolean"}),
    "TEXT": frozenset({"text", "timestamp with time zone", "jsonb", "json"}),
    "REAL": frozenset({"double precision", "real"}),
}


class TransferRefused(Exception):
    """Checked before anything was written, and refused (a command line's exit code 2)."""


class TransferFailed(Exception):
    """The move failed; the target holds nothing of it (exit code 1)."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    name: str
    rows: int
    next_id: int | None  # what the identity column gives out next; None without one


@dataclass(frozen=True, slots=True)
class TransferResult:
    schema_version: int
    tables: tuple[TableCopy, ...]
    seconds: float
    snapshot_at: datetime
    source_in_use: bool

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    pg_type: str
    identity: bool


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[_Column, ...]
    primary_key: tuple[str, ...]


class _BadValue(Exception):
    pass


# --- the source ----------------------------------------------------------------------------


def _sqlite_tables(db: sqlite3.Connection) -> dict[str, dict[str, tuple[str, int]]]:
    """Every table of the SQLite file: column -> (declared type, position in the primary key)."""
    names = [
        str(row[0])
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%'"
            " ESCAPE '\\' ORDER BY name"
        )
    ]
    tables: dict[str, dict[str, tuple[str, int]]] = {}
    for name in names:
        if name in BOOKKEEPING_TABLES:
            continue
        columns = db.execute("SELECT name, type, pk FROM pragma_table_info(?)", (name,))
        tables[name] = {str(col): (str(kind).upper(), int(pk)) for col, kind, pk in columns}
    return tables


def _sqlite_sequences(db: sqlite3.Connection) -> dict[str, int]:
    """SQLite's AUTOINCREMENT high-water marks (``sqlite_sequence``), by table."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if exists is None:
        return {}
    return {
        str(name): int(seq) for name, seq in db.execute("SELECT name, seq FROM sqlite_sequence")
    }


def _broken_references(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("PRAGMA foreign_key_check").fetchall()
    counts: dict[str, int] = {}
    for table, _rowid, parent, _index in rows:
        key = f"{table} -> {parent}"
        counts[key] = counts.get(key, 0) + 1
    return [f"{key} ({count} rows)" for key, count in sorted(counts.items())]


# --- the target ----------------------------------------------------------------------------


def _postgres_tables(db: psycopg.Connection[Any]) -> dict[str, dict[str, _Column]]:
    cursor = db.execute(
        "SELECT c.table_name, c.column_name, c.data_type, c.is_identity"
        " FROM information_schema.columns c"
        " JOIN information_schema.tables t"
        "   ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        " ORDER BY c.table_name, c.ordinal_position"
    )
    tables: dict[str, dict[str, _Column]] = {}
    for table, column, data_type, identity in cursor.fetchall():
        if table in BOOKKEEPING_TABLES:
            continue
        tables.setdefault(table, {})[column] = _Column(column, data_type, identity == "YES")
    return tables


def _postgres_references(db: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    """(child table, parent table) for every foreign key in the current schema."""
    cursor = db.execute(
        "SELECT child.relname, parent.relname FROM pg_constraint k"
        " JOIN pg_class child ON child.oid = k.conrelid"
        " JOIN pg_class parent ON parent.oid = k.confrelid"
        " JOIN pg_namespace n ON n.oid = child.relnamespace"
        " WHERE k.contype = 'f' AND n.nspname = current_schema()"
    )
    return {(str(child), str(parent)) for child, parent in cursor.fetchall()}


def _compare(
    source: dict[str, dict[str, tuple[str, int]]], target: dict[str, dict[str, _Column]]
) -> list[_Table]:
    """The tables to copy, or :class:`TransferRefused` naming every difference."""
    problems = [
        f"table {name} exists in SQLite only" for name in sorted(source.keys() - target.keys())
    ]
    problems += [
        f"table {name} exists in PostgreSQL only" for name in sorted(target.keys() - source.keys())
    ]
    tables = []
    for name in sorted(source.keys() & target.keys()):
        ours, theirs = source[name], target[name]
        problems += [
            f"column {name}.{column} exists in SQLite only"
            for column in sorted(ours.keys() - theirs.keys())
        ]
        problems += [
            f"column {name}.{column} exists in PostgreSQL only"
            for column in sorted(theirs.keys() - ours.keys())
        ]
        for column in sorted(ours.keys() & theirs.keys()):
            declared, pg_type = ours[column][0], theirs[column].pg_type
            if pg_type not in _COMPATIBLE.get(declared, frozenset()):
                problems.append(
                    f"column {name}.{column} is {declared} in SQLite but {pg_type} in PostgreSQL"
                )
        key = tuple(col for col, (_, pk) in sorted(ours.items(), key=lambda i: i[1][1]) if pk)
        tables.append(_Table(name, tuple(theirs.values()), key))
    if problems:
        raise TransferRefused(
            "the two schemas differ (a migration written for one backend only?): "
            + "; ".join(problems)
        )
    return tables


def _in_order(tables: list[_Table], references: set[tuple[str, str]]) -> list[_Table]:
    """Parents before children (alphabetical among equals, so the order is stable)."""
    by_name = {table.name: table for table in tables}
    graph = TopologicalSorter[str]()
    for name in by_name:
        graph.add(name)
    for child, parent in references:
        if child in by_name and parent in by_name and child != parent:
            graph.add(child, parent)
    ordered: list[_Table] = []
    try:
        graph.prepare()
    except CycleError as error:
        raise TransferRefused(f"the foreign keys form a cycle: {error.args[1]}") from error
    while graph.is_active():
        ready = sorted(graph.get_ready())
        ordered += [by_name[name] for name in ready]
        graph.done(*ready)
    return ordered


# --- values --------------------------------------------------------------------------------


def _boolean(value: object) -> bool | None:
    if value is None:
        return None
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _BadValue(f"{value!r} is not a boolean (0 or 1)")


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadValue(f"{value!r} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise _BadValue(f"{value!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise _BadValue(f"{value!r} has no UTC offset")
    return moment


def _text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadValue(f"a {type(value).__name__} value, not text")
    return value.replace("\x00", NUL_REPLACEMENT)


def _integer(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _BadValue(f"{value!r} is not an integer")


def _real(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise _BadValue(f"{value!r} is not a finite number")


_CONVERTERS: dict[str, Callable[[object], object]] = {
    "boolean": _boolean,
    "timestamp with time zone": _timestamp,
    "text": _text,
    "json": _text,
    "jsonb": _text,
    "bigint": _integer,
    "integer": _integer,
    "smallint": _integer,
    "double precision": _real,
    "real": _real,
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_rows(
    db: sqlite3.Connection, table: _Table, batch_rows: int
) -> Iterator[list[tuple[Any, ...]]]:
    columns = ", ".join(_quoted(column.name) for column in table.columns)
    order = ", ".join(_quoted(name) for name in table.primary_key) or "rowid"
    cursor = db.execute(f"SELECT {columns} FROM {_quoted(table.name)} ORDER BY {order}")  # noqa: S608 - names from the schema
    while rows := cursor.fetchmany(batch_rows):
        yield rows


# --- the move ------------------------------------------------------------------------------


def _copy_table(
    db: psycopg.Connection[Any],
    snapshot: sqlite3.Connection,
    table: _Table,
    sequences: dict[str, int],
    batch_rows: int,
) -> TableCopy:
    converters = [_CONVERTERS[column.pg_type] for column in table.columns]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(column.name) for column in table.columns),
    )
    columns = list(zip(table.columns, converters, strict=True))
    copied = 0
    with db.cursor().copy(statement) as copy:
        for rows in _source_rows(snapshot, table, batch_rows):
            for row in rows:
                converted = []
                for (column, convert), value in zip(columns, row, strict=True):
                    try:
                        converted.append(convert(value))
                    except _BadValue as error:
                        raise TransferFailed(
                            f"{table.name} {_row_key(table, row)}, column {column.name}: {error}"
                        ) from error
                copy.write_row(converted)
                copied += 1
    source_count = snapshot.execute(f"SELECT count(*) FROM {_quoted(table.name)}").fetchone()  # noqa: S608
    cursor = db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name)))
    target_count = cursor.fetchone()
    if (
        source_count is None
        or target_count is None
        or not (int(source_count[0]) == int(target_count[0]) == copied)
    ):
        raise TransferFailed(
            f"{table.name}: {copied} rows written, but SQLite counts"
            f" {source_count[0] if source_count else '?'} and PostgreSQL"
            f" {target_count[0] if target_count else '?'}"
        )
    return TableCopy(table.name, copied, _reset_identity(db, snapshot, table, sequences))


def _row_key(table: _Table, row: Sequence[Any]) -> str:
    """The row's primary key, to say which row is wrong (never other values: personal data)."""
    names = [column.name for column in table.columns]
    key = table.primary_key or tuple(names[:1])
    return "(" + ", ".join(f"{name}={row[names.index(name)]!r}" for name in key) + ")"


def _reset_identity(
    db: psycopg.Connection[Any],
    snapshot: sqlite3.Connection,
    table: _Table,
    sequences: dict[str, int],
) -> int | None:
    """Set the identity column's sequence past every id the source has given out."""
    identity = [column for column in table.columns if column.identity]
    if not identity:
        return None
    column = identity[0].name
    row = snapshot.execute(
        f"SELECT max({_quoted(column)}) FROM {_quoted(table.name)}"  # noqa: S608
    ).fetchone()
    highest = max(int(row[0]) if row and row[0] is not None else 0, sequences.get(table.name, 0))
    next_id = highest + 1
    # is_called = false: the next nextval() returns next_id itself.
    db.execute(
        "SELECT setval(pg_get_serial_sequence(%s, %s), %s, false)",
        (_quoted(table.name), column, next_id),
    )
    return next_id


def _move(
    url: str,
    snapshot: sqlite3.Connection,
    *,
    batch_rows: int,
    on_table: Callable[[TableCopy], None] | None,
) -> tuple[TableCopy, ...]:
    db = _connect(url)
    writing = False
    try:
        ordered = _in_order(
            _compare(_sqlite_tables(snapshot), _postgres_tables(db)),
            _postgres_references(db),
        )
        db.rollback()  # end the reads' implicit transaction: the copy has its own
        sequences = _sqlite_sequences(snapshot)
        copied: list[TableCopy] = []
        with db.transaction():
            db.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
            names = sql.SQL(", ").join(sql.Identifier(table.name) for table in ordered)
            try:
                db.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
            except psycopg.errors.LockNotAvailable as error:
                raise TransferRefused(
                    "the target's tables are in use (is a bot running on it?): stop it and"
                    " try again"
                ) from error
            _refuse_rows(db, [table.name for table in ordered])
            writing = True
            for table in ordered:
                done = _copy_table(db, snapshot, table, sequences, batch_rows)
                copied.append(done)
                if on_table is not None:
                    on_table(done)
        # Fresh statistics for the planner; autovacuum would get there later.
        with contextlib.suppress(psycopg.Error):
            db.set_autocommit(True)
            db.execute(sql.SQL("ANALYZE {}").format(names))
        return tuple(copied)
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise TransferFailed(
            f"PostgreSQL refused the copy: {reason}{_rolled_back(writing)}"
        ) from error
    except TransferFailed as error:
        raise TransferFailed(f"{error}{_rolled_back(writing)}") from error
    finally:
        db.close()


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.Connection.connect(url, connect_timeout=10)
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise TransferFailed(f"cannot connect to PostgreSQL at {_where(url)}: {reason}") from error
    except psycopg.ProgrammingError as error:
        raise TransferRefused(f"--to is not a PostgreSQL URL: {error}") from error


def _refuse_rows(db: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Refuse a target where any of ``tables`` has a row."""
    filled = []
    for name in tables:
        cursor = db.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(name))
        )
        row = cursor.fetchone()
        if row is not None and row[0]:
            filled.append(name)
    if filled:
        raise TransferRefused(
            "the target database is not empty (rows in "
            + ", ".join(filled)
            + "): migrate-data only fills an empty database; give it a new database or schema"
        )


def _check_target_empty(url: str) -> None:
    """Before the target is migrated: refuse one that holds rows already (an older bot's
    database would otherwise be upgraded first and refused after)."""
    with _connect(url) as db:
        cursor = db.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        names = [str(row[0]) for row in cursor.fetchall()]
        _refuse_rows(db, sorted(set(names) - BOOKKEEPING_TABLES))
        db.rollback()


def _rolled_back(writing: bool) -> str:
    return " (rolled back: the target has its empty tables and no rows)" if writing else ""


async def _migrate_target(url: str) -> None:
    """Migrate the target to this code's schema; refuse a newer one."""
    try:
        storage = await PostgresStorage.open(url, pool_size=2)
    except ConfigurationError as error:
        raise TransferRefused(f"--to: {error}") from error
    except DatabaseUnreachable as error:
        raise TransferFailed(str(error)) from error
    except MigrationError as error:
        raise TransferFailed(f"migrating the target failed: {error}") from error
    try:
        version, known = await storage.schema_version(), storage.known_schema_version()
    finally:
        await storage.close()
    if version > known:
        raise TransferRefused(
            f"the target is at schema {version}, newer than this code's {known}:"
            " run migrate-data from the newer version of the bot"
        )


def target_name(url: str) -> str:
    """``host:port/db`` of a PostgreSQL URL, for messages (never its password)."""
    return _where(url)


def _check_source_version(version: int, source: Path) -> None:
    known = sqlite_schema_version()
    if postgres_schema_version() != known:
        raise TransferRefused(
            f"this code's migrations differ: SQLite up to {known}, PostgreSQL up to"
            f" {postgres_schema_version()}"
        )
    if version < known:
        raise TransferRefused(
            f"{source} is at schema {version}, this code at {known}: start the bot once on the"
            " SQLite file (it migrates itself on start), stop it, and run migrate-data again"
        )
    if version > known:
        raise TransferRefused(
            f"{source} is at schema {version}, newer than this code's {known}:"
            " run migrate-data from the newer version of the bot"
        )


def _source_in_use(source: Path) -> bool:
    """Whether a bot has the SQLite file open (its instance lock is held)."""
    lock = InstanceLock(source)
    try:
        if lock.try_acquire(exclusive=True):
            lock.release()
            return False
    except OSError:
        return False  # no lock file can be made beside it: nobody holds one either
    return True


def transfer(
    source: Path,
    target_url: str,
    *,
    batch_rows: int = BATCH_ROWS,
    on_table: Callable[[TableCopy], None] | None = None,
    snapshot_taken: Callable[[bool], None] | None = None,
) -> TransferResult:
    """Copy the SQLite database at ``source`` into the empty PostgreSQL database ``target_url``.

    ``on_table`` is told each table as it is copied (inside the transaction, so before it is
    committed); ``snapshot_taken`` whether a bot had the source open when the snapshot was
    taken. Raises :class:`TransferRefused` (nothing written), :class:`TransferFailed`
    (everything rolled back).
    """
    started = time.monotonic()
    if not source.is_file():
        raise TransferRefused(f"no SQLite database at {source}")
    in_use = _source_in_use(source)
    try:
        folder = tempfile.TemporaryDirectory(prefix=".migrate-data-", dir=source.parent)
    except OSError as error:
        raise TransferFailed(f"cannot write a snapshot beside {source}: {error}") from error
    with folder as directory:
        snapshot_path = Path(directory) / "snapshot.sqlite3"
        snapshot_at = datetime.now().astimezone()
        try:
            result = copy_database(source, snapshot_path)
        except BackupError as error:
            raise TransferRefused(str(error)) from error
        _check_source_version(result.schema_version, source)
        snapshot = sqlite3.connect(f"{snapshot_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            broken = _broken_references(snapshot)
            if broken:
                raise TransferRefused(
                    f"{source} has rows whose foreign keys point at nothing: " + "; ".join(broken)
                )
            _check_target_empty(target_url)
            if snapshot_taken is not None:
                snapshot_taken(in_use)
            asyncio.run(_migrate_target(target_url))
            copied = _move(target_url, snapshot, batch_rows=batch_rows, on_table=on_table)
        finally:
            snapshot.close()
    return TransferResult(
        schema_version=result.schema_version,
        tables=copied,
        seconds=time.monotonic() - started,
        snapshot_at=snapshot_at,
        source_in_use=in_use,
    )
