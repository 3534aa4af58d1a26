"""A scratch PostgreSQL schema for a test or a benchmark: created empty, dropped afterwards.

Connections reach it through libpq's ``options`` (``-csearch_path=...``), so the code under
test (a bot process included) needs nothing but the URL. The tests (``tests.postgres``) and
the benchmarks (``bench.postgres``) connect to their server in their own way (a test fails, a
benchmark raises) and share this part.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import psycopg

__all__ = ["scratch_schema", "with_schema"]


def with_schema(url: str, schema: str) -> str:
    """``url`` with every connection's ``search_path`` set to ``schema`` (libpq ``options``)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@asynccontextmanager
async def scratch_schema(
    admin: psycopg.AsyncConnection[tuple[object, ...]], url: str, prefix: str
) -> AsyncIterator[str]:
    """Create ``<prefix>_<hex>`` through ``admin`` (autocommit); yield a URL whose connections
    use it; drop it afterwards. ``admin`` stays open: its owner closes it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(url, schema)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
