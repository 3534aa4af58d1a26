"""The outbox table in SQLite (migrations 0002, 0004, 0012).

Processes sharing the file (``python -m bot`` and ``python -m bot worker``) take SQLite's one
write lock for every transaction (``BEGIN IMMEDIATE``), so a claim that finds a row still
pending is the only one; claims are leased to the process like on PostgreSQL."""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from domain.identity import ChannelName, UserRef
from storage.outbox import (
    NewOutboxMessage,
    OutboxBacklog,
    OutboxLease,
    OutboxMessage,
    OutboxStatus,
)
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, to_db_time

_COLUMNS = (
    "id, idempotency_key, channel, chat_id, kind, body, resident_id, urgent, status, attempts,"
    " not_before, created_at, sent_at, last_error, parts_sent, sent_ids, lease_owner, lease_until"
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
        parts_sent=row["parts_sent"],
        sent_ids=tuple(json.loads(row["sent_ids"])) if row["sent_ids"] else (),
        lease_owner=row["lease_owner"],
        lease_until=from_db_time(row["lease_until"]),
    )


class SqliteOutboxStore:
    """Outbox rows over the transaction's connection."""

    def __init__(self, db: Connection, lease: OutboxLease) -> None:
        self._db = db
        self._lease = lease

    def _until(self, now: datetime) -> str:
        return to_db_time(self._lease.until(now))

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, channel, chat_id, kind, body,"
            " resident_id, urgent, not_before, due_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _insert_params(message, now),
        )
        return cursor.rowcount == 1

    async def enqueue_claimed(self, message: NewOutboxMessage, *, now: datetime) -> int | None:
        cursor = await self._db.execute(
            "INSERT INTO outbox (idempotency_key, channel, chat_id, kind, body, resident_id,"
            " urgent, status, attempts, not_before, due_at, created_at, lease_owner, lease_until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?, ?, ?, ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            (*_insert_params(message, now), self._lease.owner, self._until(now)),
        )
        row = await cursor.fetchone()
        return int(row[0]) if row is not None else None

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

    async def mark_sending(self, message_id: int, *, now: datetime) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = ?,"
            " lease_until = ? WHERE id = ?",
            (self._lease.owner, self._until(now), message_id),
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
            " attempts = attempts - ?"
            " WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR status <> 'sending')",
            (
                to_db_time(not_before),
                error[:500],
                0 if count_attempt else 1,
                message_id,
                self._lease.owner,
            ),
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

    async def unsent_with_prefix(self, key_prefix: str) -> builtins.list[OutboxMessage]:
        if not key_prefix:
            raise ValueError("an empty key prefix")
        # A range over the unique index: every key that starts with the prefix sorts in it.
        upper = key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1)
        return await self._select(
            "WHERE idempotency_key >= ? AND idempotency_key < ?"
            " AND status = 'pending' AND parts_sent = 0 ORDER BY id",
            (key_prefix, upper),
        )

    async def rewrite(self, message_id: int, *, body: str) -> bool:
        cursor = await self._db.execute(
            "UPDATE outbox SET body = ? WHERE id = ? AND status = 'pending' AND parts_sent = 0",
            (body, message_id),
        )
        return cursor.rowcount == 1

    async def counts(self) -> dict[OutboxStatus, int]:
        async with self._db.execute(
            "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"
        ) as cursor:
            rows = await cursor.fetchall()
        counts = {status: 0 for status in OutboxStatus}
        for row in rows:
            counts[OutboxStatus(row["status"])] = row["n"]
        return counts

    async def backlog(self) -> OutboxBacklog:
        # The status index finds the pending rows; only they are read for the oldest.
        async with self._db.execute(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE status = ?",
            (OutboxStatus.PENDING.value,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return OutboxBacklog(0, None)
        return OutboxBacklog(row["n"], from_db_time(row["oldest"]))

    async def list(self, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]:
        return await self._select(
            "WHERE status = ? ORDER BY id DESC LIMIT ?", (status.value, limit)
        )

    async def heads(
        self,
        *,
        now: datetime,
        quiet: bool,
        limit: int,
        channels: Collection[ChannelName] | None = None,
    ) -> builtins.list[OutboxMessage]:
        stamp = to_db_time(now)
        names = sorted({channel.value for channel in channels}) if channels is not None else []
        only = (
            f" AND o.channel IN ({', '.join('?' for _ in names)})" if channels is not None else ""
        )
        # An earlier message blocks a later one of the same chat while it is being sent, or is
        # due and unsent (retries keep due_at); in quiet hours only urgent ones count.
        return await self._select(
            "AS o WHERE o.status = 'pending' AND o.not_before <= ? AND (? = 0 OR o.urgent = 1)"  # noqa: S608 - only '?' marks are formatted in
            f"{only} AND NOT EXISTS (SELECT 1 FROM outbox AS e"
            "  WHERE e.channel = o.channel AND e.chat_id = o.chat_id"
            "  AND e.status IN ('sending', 'pending') AND e.id < o.id"
            "  AND (e.status = 'sending' OR (COALESCE(e.due_at, e.not_before) <= ?"
            "       AND (? = 0 OR e.urgent = 1))))"
            " ORDER BY o.urgent DESC, o.id LIMIT ?",
            (stamp, int(quiet), *names, stamp, int(quiet), limit),
        )

    async def claim(self, message_id: int, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = ?,"
            " lease_until = ? WHERE id = ? AND status = 'pending'",
            (self._lease.owner, self._until(now), message_id),
        )
        return cursor.rowcount == 1

    async def claim_many(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        ids = list(message_ids)
        if not ids:
            return set()
        marks = ", ".join("?" for _ in ids)
        async with self._db.execute(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = ?,"  # noqa: S608 - only '?' marks are formatted in
            f" lease_until = ? WHERE status = 'pending' AND id IN ({marks}) RETURNING id",
            (self._lease.owner, self._until(now), *ids),
        ) as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def renew_leases(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        ids = list(message_ids)
        if not ids:
            return set()
        marks = ", ".join("?" for _ in ids)
        async with self._db.execute(
            "UPDATE outbox SET lease_until = ?"  # noqa: S608 - only '?' marks are formatted in
            f" WHERE id IN ({marks}) AND status = 'sending' AND lease_owner = ? RETURNING id",
            (self._until(now), *ids, self._lease.owner),
        ) as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def mark_sent_many(
        self, sent: builtins.list[tuple[int, builtins.list[str]]], *, now: datetime
    ) -> None:
        stamp = to_db_time(now)
        await self._db.executemany(
            "UPDATE outbox SET status = 'sent', sent_at = ?, sent_ids = ?, last_error = NULL"
            " WHERE id = ?",
            [(stamp, json.dumps(ids), message_id) for message_id, ids in sent],
        )

    async def record_progress(
        self, message_id: int, *, parts_sent: int, sent_ids: builtins.list[str]
    ) -> None:
        await self._db.execute(
            "UPDATE outbox SET parts_sent = ?, sent_ids = ? WHERE id = ?",
            (parts_sent, json.dumps(sent_ids), message_id),
        )

    async def expire_leases(self, message_ids: Collection[int], *, now: datetime) -> int:
        ids = list(message_ids)
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        cursor = await self._db.execute(
            "UPDATE outbox SET lease_until = ?"  # noqa: S608 - only '?' marks are formatted in
            f" WHERE id IN ({marks}) AND status = 'sending' AND lease_owner = ?",
            (to_db_time(now), *ids, self._lease.owner),
        )
        return cursor.rowcount

    async def release_expired(self, *, now: datetime) -> int:
        stamp = to_db_time(now)
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'pending', not_before = MIN(not_before, ?),"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE status = 'sending' AND (lease_until IS NULL OR lease_until <= ?)",
            (stamp, stamp),
        )
        return cursor.rowcount

    async def cancel(self, message_id: int, *, reason: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error = ? WHERE id = ?",
            (reason[:500], message_id),
        )

    async def recently_sent(
        self, *, since: datetime
    ) -> builtins.list[tuple[UserRef, datetime, int]]:
        async with self._db.execute(
            "SELECT channel, chat_id, sent_at, sent_ids FROM outbox"
            " WHERE status = 'sent' AND sent_at >= ? ORDER BY sent_at",
            (to_db_time(since),),
        ) as cursor:
            rows = await cursor.fetchall()
        found = []
        for row in rows:
            sent_at = from_db_time(row["sent_at"])
            parts = len(json.loads(row["sent_ids"])) if row["sent_ids"] else 1
            if sent_at is not None:
                found.append((UserRef(ChannelName(row["channel"]), row["chat_id"]), sent_at, parts))
        return found

    async def next_due(self, *, after: datetime) -> datetime | None:
        async with self._db.execute(
            "SELECT MIN(not_before) FROM outbox WHERE status = 'pending' AND not_before > ?",
            (to_db_time(after),),
        ) as cursor:
            row = await cursor.fetchone()
        return from_db_time(row[0]) if row and row[0] else None


def _insert_params(message: NewOutboxMessage, now: datetime) -> tuple[Any, ...]:
    """The values of a new row, in the column order both INSERTs name."""
    return (
        message.idempotency_key,
        message.chat.channel.value,
        message.chat.user_id,
        message.kind,
        message.body,
        message.resident_id,
        int(message.urgent),
        to_db_time(message.not_before),
        to_db_time(message.not_before),
        to_db_time(now),
    )
