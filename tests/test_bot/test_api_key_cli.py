"""``python -m bot api-key create|list|revoke``: a key is printed once and stored as a hash."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg

from tests.postgres import fresh_schema
from tests.test_bot.test_startup_errors import run_bot


def test_create_list_revoke(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    created = run_bot(tmp_path, "api-key", "create", "fixmystreet", "--scope", "write", **env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("o311_")
    assert "shown only now" in created.stderr
    with closing(sqlite3.connect(database)) as db, db:
        rows = db.execute("SELECT name, scope, key_hash FROM api_keys").fetchall()
    assert rows == [("fixmystreet", "write", hashlib.sha256(key.encode()).hexdigest())]
    assert key not in database.read_bytes().decode("latin-1")

    taken = run_bot(tmp_path, "api-key", "create", "fixmystreet", "--scope", "read", **env)
    assert taken.returncode == 2
    assert "revoke it first" in taken.stderr

    listed = run_bot(tmp_path, "api-key", "list", **env)
    assert listed.returncode == 0
    assert "fixmystreet\twrite" in listed.stdout
    assert "active" in listed.stdout
    assert key not in listed.stdout

    assert run_bot(tmp_path, "api-key", "audit", **env).stdout == ""
    with closing(sqlite3.connect(database)) as db, db:
        db.execute(
            "INSERT INTO api_audit (key_name, at, method, path, status, subject) VALUES"
            " ('fixmystreet', '2026-12-06T10:00:00.000000+00:00', 'POST',"
            " '/open311/v2/requests.json', 200, 'created 1520-000001')"
        )
    audit = run_bot(tmp_path, "api-key", "audit", "--limit", "5", **env)
    assert audit.returncode == 0
    assert audit.stdout == (
        "2026-12-06 12:00:00\tfixmystreet\tPOST /open311/v2/requests.json\t200"
        "\tcreated 1520-000001\n"
    )

    assert run_bot(tmp_path, "api-key", "revoke", "fixmystreet", **env).returncode == 0
    assert "revoked" in run_bot(tmp_path, "api-key", "list", **env).stdout
    again = run_bot(tmp_path, "api-key", "revoke", "fixmystreet", **env)
    assert again.returncode == 2


def test_bad_arguments_print_the_usage(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"}
    for args in (
        ("api-key",),
        ("api-key", "create", "x", "--scope", "admin"),
        ("api-key", "create", "x"),
        ("api-key", "erase"),
    ):
        result = run_bot(tmp_path, *args, **env)
        assert result.returncode == 2, args
        assert "usage: python -m bot api-key" in result.stderr
    bad = run_bot(tmp_path, "api-key", "create", "two words", "--scope", "read", **env)
    assert bad.returncode == 2
    assert "a name is" in bad.stderr


async def test_keys_are_kept_on_postgresql_too(tmp_path: Path) -> None:
    async with fresh_schema() as url:
        env = {"DATABASE_URL": url}
        created = await asyncio.to_thread(
            run_bot, tmp_path, "api-key", "create", "backoffice", "--scope", "read", **env
        )
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        async with await psycopg.AsyncConnection.connect(url) as db:
            cursor = await db.execute("SELECT name, scope, key_hash FROM api_keys")
            rows = await cursor.fetchall()
        assert rows == [("backoffice", "read", hashlib.sha256(key.encode()).hexdigest())]
        listed = await asyncio.to_thread(run_bot, tmp_path, "api-key", "list", **env)
        assert "backoffice\tread" in listed.stdout
