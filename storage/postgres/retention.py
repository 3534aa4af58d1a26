"""Retention in PostgreSQL (policy: ``storage.retention``) through the indexes of 0008."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.postgres.connection import Connection, change, fetch_one
from storage.privacy import ERASED_BODY

__all__ = ["PostgresRetentionStore"]

# What last_error of a dead message becomes when it expires (the original reason follows).
_EXPIRED = "expired: "


class PostgresRetentionStore:
    """``RetentionStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def forget_outbox_bodies(self, *, before: datetime, limit: int) -> int:
        # The inner query walks the partial index outbox_body_kept (body <> '[]'), oldest
        # first; pending and sending messages are skipped, never changed.
        return await change(
            self._db,
            "UPDATE outbox SET body = %(erased)s,"
            " last_error = CASE WHEN status = 'dead'"
            "   THEN left(%(expired)s || COALESCE(last_error, ''), 500) ELSE last_error END,"
            " status = CASE WHEN status = 'dead' THEN 'cancelled' ELSE status END"
            " WHERE id IN (SELECT id FROM outbox"
            "   WHERE body <> %(erased)s AND created_at < %(before)s"
            "   AND status IN ('sent', 'cancelled', 'dead') ORDER BY created_at LIMIT %(limit)s)",
            {"erased": ERASED_BODY, "expired": _EXPIRED, "before": before, "limit": limit},
        )

    async def forget_conversations(self, *, before: datetime, limit: int) -> int:
        # ``updated_at`` is checked again on the row deleted, not only in the subquery: a state
        # saved by another instance's transaction while this one waited for its row is checked
        # as saved (READ COMMITTED re-evaluates the row's own conditions, not the subquery's),
        # so a resident's fresh step is never deleted for being old a moment ago.
        return await change(
            self._db,
            "DELETE FROM conversation_states WHERE updated_at < %s AND resident_id IN ("
            " SELECT c.resident_id FROM conversation_states AS c WHERE c.updated_at < %s"
            " AND NOT EXISTS (SELECT 1 FROM relay_sessions AS r"
            "   WHERE r.resident_id = c.resident_id AND r.status = 'open')"
            " ORDER BY c.updated_at LIMIT %s)",
            (before, before, limit),
        )

    async def media_in_use(self, refs: Sequence[str]) -> set[str]:
        # A handful of files a day: one indexed lookup and three scans (bodies through the
        # partial index of kept bodies) per reference is cheap at that scale.
        used: set[str] = set()
        for ref in refs:
            for query in _MEDIA_REFERENCES:
                if await fetch_one(self._db, query, (ref,)) is not None:
                    used.add(ref)
                    break
        return used


_MEDIA_REFERENCES = (
    "SELECT 1 FROM request_photos WHERE ref = %s LIMIT 1",
    "SELECT 1 FROM relay_messages WHERE photo_ref = %s LIMIT 1",
    "SELECT 1 FROM outbox WHERE body <> '[]' AND strpos(body, %s) > 0 LIMIT 1",
    "SELECT 1 FROM conversation_states WHERE strpos(data, %s) > 0 LIMIT 1",
)
