"""The outbox table in SQLite."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from domain.identity import ChannelName, UserRef
from storage.outbox import NewOutboxMessage, OutboxMessage, OutboxStatus
from storage.sqlite.times import from_db_time, to_db_time

_COLUMNS = (
    "id, idempotency_key, channel, chat_id, kind, body, resident_id, urgent, status, attempts,"
    " not_before, created_at, sent_at, last_error"
)


def _row(row: Any) -> OutboxMessage:
    not_before = from_db_time(row["not_before"])
    created_at = from_db_time(row["created_at"])
    assert not_before is not None
    assert created_at is not None
    return OutboxMessage(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        chat=UserRef(ChannelName(row["channel"]), row["chat_id"]),
        kind=row["kind"],
        body=row["body"],
        resident_id=row["resident_id"],
        urgent=bool(row["urgent"]),
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        not_before=not_before,
        created_at=created_at,
        sent_at=from_db_time(row["sent_at"]),
        last_error=row["last_error"],
    )


class SqliteOutboxStore:
    """Outbox rows over the transaction's connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, channel, chat_id, kind, body,"
            " resident_id, urgent, not_before, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.idempotency_key,
                message.chat.channel.value,
                message.chat.user_id,
                message.kind,
                message.body,
                message.resident_id,
                int(message.urgent),
                to_db_time(message.not_before),
                to_db_time(now),
            ),
        )
        return cursor.rowcount == 1

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[OutboxMessage]:
        async with self._db.execute(f"SELECT {_COLUMNS} FROM outbox {where}", params) as cursor:  # noqa: S608
            return [_row(row) for row in await cursor.fetchall()]

    async def due(self, *, now: datetime, limit: int) -> list[OutboxMessage]:
        return await self._select(
            "WHERE status = 'pending' AND not_before <= ? ORDER BY urgent DESC, not_before, id"
            " LIMIT ?",
            (to_db_time(now), limit),
        )

    async def in_flight(self) -> list[OutboxMessage]:
        return await self._select("WHERE status = 'sending' ORDER BY id", ())

    async def mark_sending(self, message_id: int) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?",
            (message_id,),
        )

    async def mark_sent(self, message_id: int, *, now: datetime, sent_ids: list[str]) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, sent_ids = ?, last_error = NULL"
            " WHERE id = ?",
            (to_db_time(now), json.dumps(sent_ids), message_id),
        )

    async def reschedule(
        self, message_id: int, *, not_before: datetime, error: str, count_attempt: bool = True
    ) -> None:
        # mark_sending already counted the attempt; a 429 is not the message's fault.
        await self._db.execute(
            "UPDATE outbox SET status = 'pending', not_before = ?, last_error = ?,"
            " attempts = attempts - ? WHERE id = ?",
            (to_db_time(not_before), error[:500], 0 if count_attempt else 1, message_id),
        )

    async def mark_dead(self, message_id: int, *, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'dead', last_error = ? WHERE id = ?",
            (error[:500], message_id),
        )

    async def cancel_for_chat(self, chat: UserRef, *, reason: str) -> int:
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = ?"
            " WHERE channel = ? AND chat_id = ? AND status = 'pending'",
            (reason[:500], chat.channel.value, chat.user_id),
        )
        return cursor.rowcount

    async def retry_dead(self, *, now: datetime, message_id: int | None = None) -> int:
        if message_id is None:
            cursor = await self._db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = ?"
                " WHERE status = 'dead'",
                (to_db_time(now),),
            )
        else:
            cursor = await self._db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = ?"
                " WHERE status = 'dead' AND id = ?",
                (to_db_time(now), message_id),
            )
        return cursor.rowcount

    async def get(self, message_id: int) -> OutboxMessage | None:
        found = await self._select("WHERE id = ?", (message_id,))
        return found[0] if found else None

    async def by_key(self, idempotency_key: str) -> OutboxMessage | None:
        found = await self._select("WHERE idempotency_key = ?", (idempotency_key,))
        return found[0] if found else None

    async def counts(self) -> dict[OutboxStatus, int]:
        async with self._db.execute(
            "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"
        ) as cursor:
            rows = await cursor.fetchall()
        counts = {status: 0 for status in OutboxStatus}
        for row in rows:
            counts[OutboxStatus(row["status"])] = row["n"]
        return counts

    async def list(self, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]:
        return await self._select(
            "WHERE status = ? ORDER BY id DESC LIMIT ?", (status.value, limit)
        )
