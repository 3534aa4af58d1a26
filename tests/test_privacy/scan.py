"""Looks for strings in every column of every table of a SQLite file (read through sqlite_master,
so a table added later is scanned too), or of a PostgreSQL schema (information_schema)."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage

Where = list[tuple[str, str]]

_NOT_DIGIT = re.compile(r"\D")


def _tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f'PRAGMA table_info("{table}")').fetchall()]


def _matches(needle: str, value: object) -> bool:
    text = str(value)
    if needle.isdigit():
        # Phone numbers appear formatted in many ways (+380 67 111 22 33, 0671112233...).
        return needle in _NOT_DIGIT.sub("", text)
    return needle.casefold() in text.casefold()


async def scan(path: Path, needles: list[str]) -> dict[str, Where]:
    """For each needle, the (table, column) pairs whose values contain it (case-insensitive;
    digits-only needles ignore formatting). Empty lists mean "found nowhere"."""
    found: dict[str, Where] = {needle: [] for needle in needles}
    with closing(sqlite3.connect(path)) as db:
        for table in _tables(db):
            for column in _columns(db, table):
                values = db.execute(
                    f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
                ).fetchall()
                for needle in needles:
                    if any(_matches(needle, value[0]) for value in values):
                        found[needle].append((table, column))
    return found


async def table_counts(path: Path) -> dict[str, int]:
    """Rows per table."""
    with closing(sqlite3.connect(path)) as db:
        return {
            table: int(db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])
            for table in _tables(db)
        }


async def _postgres_values(storage: PostgresStorage) -> dict[tuple[str, str], list[object]]:
    values: dict[tuple[str, str], list[object]] = {}
    async with storage.snapshot() as view:
        cursor = await view.db.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
        for row in await cursor.fetchall():
            table, column = str(row["table_name"]), str(row["column_name"])
            found = await view.db.execute(
                f'SELECT "{column}"::text AS value FROM "{table}" WHERE "{column}" IS NOT NULL'
            )
            values[table, column] = [item["value"] for item in await found.fetchall()]
    return values


async def scan_storage(
    storage: SqliteStorage | PostgresStorage, needles: list[str]
) -> dict[str, Where]:
    """:func:`scan` over either backend."""
    if isinstance(storage, SqliteStorage):
        return await scan(storage.path, needles)
    found: dict[str, Where] = {needle: [] for needle in needles}
    for (table, column), values in (await _postgres_values(storage)).items():
        for needle in needles:
            if any(_matches(needle, value) for value in values):
                found[needle].append((table, column))
    return found


async def storage_table_counts(storage: SqliteStorage | PostgresStorage) -> dict[str, int]:
    """:func:`table_counts` over either backend."""
    if isinstance(storage, SqliteStorage):
        return await table_counts(storage.path)
    counts: dict[str, int] = {}
    async with storage.snapshot() as view:
        cursor = await view.db.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name"
        )
        for row in await cursor.fetchall():
            table = str(row["table_name"])
            found = await view.db.execute(f'SELECT COUNT(*) AS n FROM "{table}"')
            total = await found.fetchone()
            counts[table] = int(total["n"]) if total else 0
    return counts
