"""Shared fixtures: a real database per test (a SQLite file; PostgreSQL too for tests marked
``both_backends``), a manual clock, a conversation with a recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.clock import ManualClock
from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage
from tests.postgres import BACKENDS, postgres_storage


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_backends: run the test once on SQLite and once on PostgreSQL (the storage fixture)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "storage" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_backends"
    ):
        metafunc.parametrize("storage", BACKENDS, indirect=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


@pytest.fixture
async def storage(
    request: pytest.FixtureRequest, db_path: Path
) -> AsyncIterator[SqliteStorage | PostgresStorage]:
    """A SQLite file, or (``both_backends``, second run) a fresh PostgreSQL schema."""
    if getattr(request, "param", "sqlite") == "postgres":
        async with postgres_storage() as server:
            yield server
        return
    store = await SqliteStorage.open(db_path)
    try:
        yield store
    finally:
        await store.close()
