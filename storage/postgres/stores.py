"""Residents, conversation state and processed update keys in PostgreSQL (migration 0001)."""

from __future__ import annotations

import json
from datetime import datetime

from domain.identity import ChannelName, UserRef
from storage.base import ConversationState, Resident
from storage.postgres.connection import Connection, Row, change, fetch_all, fetch_one

_COLUMNS = (
    "id, channel, user_id, language, display_name, consent_personal_data, consent_at,"
    " blocked, first_seen, last_seen"
)


def _resident(row: Row) -> Resident:
    return Resident(
        id=row["id"],
        user=UserRef(ChannelName(row["channel"]), row["user_id"]),
        language=row["language"],
        display_name=row["display_name"],
        consent_personal_data=row["consent_personal_data"],
        consent_at=row["consent_at"],
        blocked=row["blocked"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
    )


class PostgresResidentStore:
    """Residents in the ``residents`` table."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def touch(
        self,
        user: UserRef,
        *,
        now: datetime,
        display_name: str | None = None,
        default_language: str = "uk",
    ) -> Resident:
        # One statement: the resident is created or touched and read back together.
        row = await fetch_one(
            self._db,
            "INSERT INTO residents AS r"  # noqa: S608 - constant column names
            " (channel, user_id, language, display_name, first_seen, last_seen)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (channel, user_id) DO UPDATE SET last_seen = excluded.last_seen,"
            " blocked = false, display_name = COALESCE(excluded.display_name, r.display_name)"
            f" RETURNING {_COLUMNS}",
            (user.channel.value, user.user_id, default_language, display_name, now, now),
        )
        assert row is not None
        return _resident(row)

    async def get(self, user: UserRef) -> Resident | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_COLUMNS} FROM residents WHERE channel = %s AND user_id = %s",  # noqa: S608
            (user.channel.value, user.user_id),
        )
        return None if row is None else _resident(row)

    async def get_by_id(self, resident_id: int) -> Resident | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_COLUMNS} FROM residents WHERE id = %s",  # noqa: S608
            (resident_id,),
        )
        return None if row is None else _resident(row)

    async def set_language(self, resident_id: int, language: str) -> None:
        await change(
            self._db, "UPDATE residents SET language = %s WHERE id = %s", (language, resident_id)
        )

    async def set_consent(self, resident_id: int, consent: bool, *, now: datetime) -> None:
        await change(
            self._db,
            "UPDATE residents SET consent_personal_data = %s, consent_at = %s WHERE id = %s",
            (consent, now if consent else None, resident_id),
        )

    async def set_blocked(self, resident_id: int, blocked: bool) -> None:
        await change(
            self._db, "UPDATE residents SET blocked = %s WHERE id = %s", (blocked, resident_id)
        )

    async def count(self) -> int:
        row = await fetch_one(self._db, "SELECT COUNT(*) AS n FROM residents")
        return int(row["n"]) if row else 0


class PostgresConversationStore:
    """Conversation state as JSON text in ``conversation_states``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def load(self, resident_id: int) -> ConversationState:
        row = await fetch_one(
            self._db,
            "SELECT step, data FROM conversation_states WHERE resident_id = %s",
            (resident_id,),
        )
        if row is None:
            return ConversationState()
        data = json.loads(row["data"])
        return ConversationState(step=row["step"], data=data if isinstance(data, dict) else {})

    async def save(self, resident_id: int, state: ConversationState, *, now: datetime) -> None:
        await change(
            self._db,
            "INSERT INTO conversation_states (resident_id, step, data, updated_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (resident_id) DO UPDATE SET"
            " step = excluded.step, data = excluded.data, updated_at = excluded.updated_at",
            (resident_id, state.step, json.dumps(state.data, ensure_ascii=False), now),
        )


class PostgresUpdateStore:
    """Processed update keys in ``processed_updates``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def seen(self, key: str) -> bool:
        rows = await fetch_all(self._db, "SELECT 1 FROM processed_updates WHERE key = %s", (key,))
        return bool(rows)

    async def remember(self, key: str, *, now: datetime) -> bool:
        inserted = await change(
            self._db,
            "INSERT INTO processed_updates (key, processed_at) VALUES (%s, %s)"
            " ON CONFLICT (key) DO NOTHING",
            (key, now),
        )
        return inserted == 1

    async def prune(self, *, before: datetime, limit: int | None = None) -> int:
        # LIMIT NULL is LIMIT ALL.
        return await change(
            self._db,
            "DELETE FROM processed_updates WHERE key IN (SELECT key FROM processed_updates"
            " WHERE processed_at < %s ORDER BY processed_at LIMIT %s)",
            (before, limit),
        )
