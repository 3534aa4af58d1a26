"""The PostgreSQL server the benchmarks measure on: a fresh schema per run, dropped afterwards.

``BENCH_POSTGRES_URL`` (else ``TEST_POSTGRES_URL``, else ``postgresql://root@127.0.0.1:5432/test``)
names a database the benchmarks may create schemas in. Every schema is ``bench_<purpose>_<hex>``
and is dropped when its benchmark ends; connections reach it through libpq's ``options``
(``-csearch_path=...``), so the bot under test needs nothing but its ``DATABASE_URL``. A server
that cannot be reached raises :class:`PostgresUnavailable` with one clear line within
``CONNECT_TIMEOUT`` seconds: a benchmark never waits for a server that is not there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from fakes.postgres_schema import scratch_schema, with_schema

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_URL",
    "PostgresUnavailable",
    "fresh_schema",
    "server_url",
    "with_schema",
]

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 5


class PostgresUnavailable(RuntimeError):
    """The benchmark's PostgreSQL server cannot be reached (the message says where and how to
    point the benchmarks at another)."""


def server_url() -> str:
    return (
        os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("TEST_POSTGRES_URL") or DEFAULT_URL
    )


async def admin_connection(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    try:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
        )
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split())
        raise PostgresUnavailable(
            f"PostgreSQL is not reachable at BENCH_POSTGRES_URL={url!r} ({reason}): start it, "
            "point BENCH_POSTGRES_URL at one, or run the SQLite figures only (--backend sqlite)"
        ) from error


@asynccontextmanager
async def fresh_schema(purpose: str) -> AsyncIterator[str]:
    """Create an empty schema; yield a URL whose connections use it; drop it afterwards."""
    url = server_url()
    admin = await admin_connection(url)
    try:
        async with scratch_schema(admin, url, f"bench_{purpose}") as scratch:
            yield scratch
    finally:
        await admin.close()
