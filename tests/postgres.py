"""The PostgreSQL test server: a fresh schema per test, dropped afterwards.

``TEST_POSTGRES_URL`` (default ``postgresql://root@127.0.0.1:5432/test``) names a database the
tests may create schemas in. A server that cannot be reached fails the test with one clear
line (never a skip): CI must not pass without having run the PostgreSQL half of the suite.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from fakes.postgres_schema import scratch_schema
from storage.postgres import PostgresStorage

# The two backends the contract suites and the tests marked ``both_backends`` run on.
BACKENDS = ("sqlite", "postgres")

DEFAULT_TEST_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_TEST_POSTGRES_URL


async def _admin(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at TEST_POSTGRES_URL={url!r} ({error}). The storage "
            "tests run on both backends: start PostgreSQL or point TEST_POSTGRES_URL at one.",
            pytrace=False,
        )


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """Create an empty schema; yield a URL whose connections use it; drop it afterwards."""
    url = server_url()
    admin = await _admin(url)
    try:
        async with scratch_schema(admin, url, "test") as scratch:
            yield scratch
    finally:
        await admin.close()


@asynccontextmanager
async def postgres_storage(**options: int) -> AsyncIterator[PostgresStorage]:
    """A migrated :class:`PostgresStorage` in a fresh schema, closed and dropped afterwards."""
    async with fresh_schema() as url:
        storage = await PostgresStorage.open(url, **options)
        try:
            yield storage
        finally:
            await storage.close()


@asynccontextmanager
async def postgres_instances() -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two migrated :class:`PostgresStorage` objects on one fresh schema: two bot processes
    as far as the server can tell (each its own pool and outbox lease owner)."""
    async with fresh_schema() as url:
        first = await PostgresStorage.open(url)
        second = await PostgresStorage.open(url)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()
