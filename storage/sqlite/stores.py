"""The ``*Store`` implementations over one SQLite connection inside a transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from domain.identity import ChannelName, UserRef
from storage.base import ConversationState, Resident
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, required_time, to_db_time


class SqliteResidentStore:
    """Residents in the ``residents`` table."""

    _COLUMNS = (
        "id, channel, user_id, language, display_name, consent_personal_data, consent_at,"
        " blocked, first_seen, last_seen"
    )

    _TOUCH = (
        "INSERT INTO residents"
        " (channel, user_id, language, display_name, first_seen, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, user_id) DO UPDATE SET last_seen = excluded.last_seen,"
        " blocked = 0, display_name = COALESCE(excluded.display_name, display_name)"
        " RETURNING id, channel, user_id, language, display_name, consent_personal_data,"
        " consent_at, blocked, first_seen, last_seen"
    )

    def __init__(self, db: Connection) -> None:
        self._db = db

    @staticmethod
    def _row(row: Any) -> Resident:
        return Resident(
            id=row["id"],
            user=UserRef(ChannelName(row["channel"]), row["user_id"]),
            language=row["language"],
            display_name=row["display_name"],
            consent_personal_data=bool(row["consent_personal_data"]),
            consent_at=from_db_time(row["consent_at"]),
            blocked=bool(row["blocked"]),
            first_seen=required_time(row["first_seen"]),
            last_seen=required_time(row["last_seen"]),
        )

    async def touch(
        self,
        user: UserRef,
        *,
        now: datetime,
        display_name: str | None = None,
        default_language: str = "uk",
    ) -> Resident:
        stamp = to_db_time(now)
        # One statement: the resident is created or touched and read back together.
        rows = await self._db.execute_fetchall(
            self._TOUCH,
            (user.channel.value, user.user_id, default_language, display_name, stamp, stamp),
        )
        return self._row(next(iter(rows)))

    async def get(self, user: UserRef) -> Resident | None:
        rows = await self._db.execute_fetchall(
            f"SELECT {self._COLUMNS} FROM residents WHERE channel = ? AND user_id = ?",  # noqa: S608
            (user.channel.value, user.user_id),
        )
        return next((self._row(row) for row in rows), None)

    async def get_by_id(self, resident_id: int) -> Resident | None:
        rows = await self._db.execute_fetchall(
            f"SELECT {self._COLUMNS} FROM residents WHERE id = ?",  # noqa: S608
            (resident_id,),
        )
        return next((self._row(row) for row in rows), None)

    async def set_language(self, resident_id: int, language: str) -> None:
        await self._db.execute(
            "UPDATE residents SET language = ? WHERE id = ?", (language, resident_id)
        )

    async def set_consent(self, resident_id: int, consent: bool, *, now: datetime) -> None:
        await self._db.execute(
            "UPDATE residents SET consent_personal_data = ?, consent_at = ? WHERE id = ?",
            (int(consent), to_db_time(now) if consent else None, resident_id),
        )

    async def set_blocked(self, resident_id: int, blocked: bool) -> None:
        await self._db.execute(
            "UPDATE residents SET blocked = ? WHERE id = ?", (int(blocked), resident_id)
        )

    async def count(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM residents") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0


class SqliteConversationStore:
    """Conversation state as JSON in ``conversation_states``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def load(self, resident_id: int) -> ConversationState:
        rows = await self._db.execute_fetchall(
            "SELECT step, data FROM conversation_states WHERE resident_id = ?", (resident_id,)
        )
        row = next(iter(rows), None)
        if row is None:
            return ConversationState()
        data = json.loads(row["data"])
        return ConversationState(step=row["step"], data=data if isinstance(data, dict) else {})

    async def save(self, resident_id: int, state: ConversationState, *, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO conversation_states (resident_id, step, data, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (resident_id) DO UPDATE SET"
            " step = excluded.step, data = excluded.data, updated_at = excluded.updated_at",
            (resident_id, state.step, json.dumps(state.data, ensure_ascii=False), to_db_time(now)),
        )


class SqliteUpdateStore:
    """Processed update keys in ``processed_updates``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def seen(self, key: str) -> bool:
        rows = await self._db.execute_fetchall(
            "SELECT 1 FROM processed_updates WHERE key = ?", (key,)
        )
        return bool(list(rows))

    async def remember(self, key: str, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO processed_updates (key, processed_at) VALUES (?, ?)",
            (key, to_db_time(now)),
        )
        return cursor.rowcount == 1

    async def prune(self, *, before: datetime, limit: int | None = None) -> int:
        cursor = await self._db.execute(
            "DELETE FROM processed_updates WHERE rowid IN (SELECT rowid FROM processed_updates"
            " WHERE processed_at < ? ORDER BY processed_at LIMIT ?)",
            (to_db_time(before), -1 if limit is None else limit),
        )
        return cursor.rowcount
