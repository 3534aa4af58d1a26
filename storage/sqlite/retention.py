"""Retention in SQLite (policy: ``storage.retention``), through the indexes of migration 0008."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.privacy import ERASED_BODY
from storage.sqlite.connection import Connection
from storage.sqlite.times import to_db_time

__all__ = ["SqliteRetentionStore"]

# What last_error of a dead message becomes when it expires (the original reason follows).
_EXPIRED = "expired: "


class SqliteRetentionStore:
    """``RetentionStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def forget_outbox_bodies(self, *, before: datetime, limit: int) -> int:
        # The inner query walks the partial index outbox_body_kept (body != '[]'), oldest
        # first; pending and sending messages are skipped, never changed. "+status" keeps the
        # planner off outbox_due, which would visit every message ever sent.
        cursor = await self._db.execute(
            "UPDATE outbox SET body = ?,"
            " last_error = CASE WHEN status = 'dead'"
            "   THEN substr(? || COALESCE(last_error, ''), 1, 500) ELSE last_error END,"
            " status = CASE WHEN status = 'dead' THEN 'cancelled' ELSE status END"
            " WHERE id IN (SELECT id FROM outbox WHERE body != ? AND created_at < ?"
            "   AND +status IN ('sent', 'cancelled', 'dead') ORDER BY created_at LIMIT ?)",
            (ERASED_BODY, _EXPIRED, ERASED_BODY, to_db_time(before), limit),
        )
        return max(cursor.rowcount, 0)

    async def forget_conversations(self, *, before: datetime, limit: int) -> int:
        cursor = await self._db.execute(
            "DELETE FROM conversation_states WHERE resident_id IN ("
            " SELECT c.resident_id FROM conversation_states AS c WHERE c.updated_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM relay_sessions AS r"
            "   WHERE r.resident_id = c.resident_id AND r.status = 'open')"
            " ORDER BY c.updated_at LIMIT ?)",
            (to_db_time(before), limit),
        )
        return max(cursor.rowcount, 0)

    async def media_in_use(self, refs: Sequence[str]) -> set[str]:
        # A handful of files a day: one indexed lookup and three scans (bodies through the
        # partial index of kept bodies) per reference is cheap at that scale.
        used: set[str] = set()
        for ref in refs:
            for query in _MEDIA_REFERENCES:
                async with self._db.execute(query, (ref,)) as cursor:
                    if await cursor.fetchone() is not None:
                        used.add(ref)
                        break
        return used


_MEDIA_REFERENCES = (
    "SELECT 1 FROM request_photos WHERE ref = ? LIMIT 1",
    "SELECT 1 FROM relay_messages WHERE photo_ref = ? LIMIT 1",
    "SELECT 1 FROM outbox WHERE body != '[]' AND instr(body, ?) > 0 LIMIT 1",
    "SELECT 1 FROM conversation_states WHERE instr(data, ?) > 0 LIMIT 1",
)
