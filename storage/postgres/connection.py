"""The connection the PostgreSQL stores talk to, and three small helpers over it.

Rows come back as dictionaries (``dict_row``), read by column name; timestamps as aware
datetimes in UTC (every pooled connection runs ``SET TIME ZONE 'UTC'``), booleans as ``bool``.
Values are always bound as parameters (``%s``), never formatted into the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from psycopg import AsyncConnection
from psycopg.rows import DictRow

__all__ = ["Connection", "Params", "Row", "change", "fetch_all", "fetch_one"]

Connection: TypeAlias = AsyncConnection[DictRow]
Row: TypeAlias = DictRow
# Positional (%s) or named (%(name)s) parameters.
Params: TypeAlias = Sequence[Any] | Mapping[str, Any]


async def fetch_all(db: Connection, sql: str, params: Params = ()) -> list[Row]:
    cursor = await db.execute(sql, params)
    return await cursor.fetchall()


async def fetch_one(db: Connection, sql: str, params: Params = ()) -> Row | None:
    cursor = await db.execute(sql, params)
    return await cursor.fetchone()


async def change(db: Connection, sql: str, params: Params = ()) -> int:
    """Run an INSERT, UPDATE or DELETE; return how many rows it touched."""
    cursor = await db.execute(sql, params)
    return max(cursor.rowcount, 0)
