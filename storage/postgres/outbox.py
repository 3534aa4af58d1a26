"""The outbox table in PostgreSQL (migrations 0002, 0004, 0012).

Several instances share the table: a claim takes only rows no other transaction is claiming
(``FOR UPDATE SKIP LOCKED``) and still pending, and leases them to this process (0012)."""

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
from storage.postgres.connection import Connection, Params, Row, change, fetch_all, fetch_one

_COLUMNS = (
    "id, idempotency_key, channel, chat_id, kind, body, resident_id, urgent, status, attempts,"
    " not_before, created_at, sent_at, last_error, parts_sent, sent_ids, lease_owner, lease_until"
)
_INSERT_COLUMNS = (
    "idempotency_key, channel, chat_id, kind, body, resident_id, urgent, not_before, due_at,"
    " created_at"
)


def _row(row: Row) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        chat=UserRef(ChannelName(row["channel"]), row["chat_id"]),
        kind=row["kind"],
        body=row["body"],
        resident_id=row["resident_id"],
        urgent=row["urgent"],
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        last_error=row["last_error"],
        parts_sent=row["parts_sent"],
        sent_ids=tuple(json.loads(row["sent_ids"])) if row["sent_ids"] else (),
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
    )


def _insert_params(message: NewOutboxMessage, now: datetime) -> tuple[Any, ...]:
    """The values of a new row, in the order of ``_INSERT_COLUMNS``."""
    return (
        message.idempotency_key,
        message.chat.channel.value,
        message.chat.user_id,
        message.kind,
        message.body,
        message.resident_id,
        message.urgent,
        message.not_before,
        message.not_before,
        now,
    )


class PostgresOutboxStore:
    """Outbox rows over the transaction's connection."""

    def __init__(self, db: Connection, lease: OutboxLease) -> None:
        self._db = db
        self._lease = lease

    async def enqueue(self, message: NewOutboxMessage, *, now: datetime) -> bool:
        inserted = await change(
            self._db,
            f"INSERT INTO outbox ({_INSERT_COLUMNS})"  # noqa: S608 - constant column names
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            _insert_params(message, now),
        )
        return inserted == 1

    async def enqueue_claimed(self, message: NewOutboxMessage, *, now: datetime) -> int | None:
        row = await fetch_one(
            self._db,
            f"INSERT INTO outbox ({_INSERT_COLUMNS}, status, attempts, lease_owner,"  # noqa: S608
            " lease_until)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'sending', 1, %s, %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            (*_insert_params(message, now), self._lease.owner, self._lease.until(now)),
        )
        return int(row["id"]) if row is not None else None

    async def _select(self, where: str, params: Params) -> list[OutboxMessage]:
        rows = await fetch_all(self._db, f"SELECT {_COLUMNS} FROM outbox {where}", params)  # noqa: S608
        return [_row(row) for row in rows]

    async def due(self, *, now: datetime, limit: int) -> list[OutboxMessage]:
        return await self._select(
            "WHERE status = 'pending' AND not_before <= %s ORDER BY urgent DESC, not_before, id"
            " LIMIT %s",
            (now, limit),
        )

    async def in_flight(self) -> list[OutboxMessage]:
        return await self._select("WHERE status = 'sending' ORDER BY id", ())

    async def mark_sending(self, message_id: int, *, now: datetime) -> None:
        await change(
            self._db,
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = %s,"
            " lease_until = %s WHERE id = %s",
            (self._lease.owner, self._lease.until(now), message_id),
        )

    async def mark_sent(self, message_id: int, *, now: datetime, sent_ids: list[str]) -> None:
        await change(
            self._db,
            "UPDATE outbox SET status = 'sent', sent_at = %s, sent_ids = %s, last_error = NULL"
            " WHERE id = %s",
            (now, json.dumps(sent_ids), message_id),
        )

    async def reschedule(
        self, message_id: int, *, not_before: datetime, error: str, count_attempt: bool = True
    ) -> None:
        # mark_sending already counted the attempt; a 429 is not the message's fault.
        await change(
            self._db,
            "UPDATE outbox SET status = 'pending', not_before = %s, last_error = %s,"
            " attempts = attempts - %s"
            " WHERE id = %s AND (lease_owner IS NULL OR lease_owner = %s OR status <> 'sending')",
            (not_before, error[:500], 0 if count_attempt else 1, message_id, self._lease.owner),
        )

    async def mark_dead(self, message_id: int, *, error: str) -> None:
        await change(
            self._db,
            "UPDATE outbox SET status = 'dead', last_error = %s WHERE id = %s",
            (error[:500], message_id),
        )

    async def cancel_for_chat(self, chat: UserRef, *, reason: str) -> int:
        return await change(
            self._db,
            "UPDATE outbox SET status = 'cancelled', last_error = %s"
            " WHERE channel = %s AND chat_id = %s AND status = 'pending'",
            (reason[:500], chat.channel.value, chat.user_id),
        )

    async def retry_dead(self, *, now: datetime, message_id: int | None = None) -> int:
        if message_id is None:
            return await change(
                self._db,
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = %s"
                " WHERE status = 'dead'",
                (now,),
            )
        return await change(
            self._db,
            "UPDATE outbox SET status = 'pending', attempts = 0, not_before = %s"
            " WHERE status = 'dead' AND id = %s",
            (now, message_id),
        )

    async def get(self, message_id: int) -> OutboxMessage | None:
        found = await self._select("WHERE id = %s", (message_id,))
        return found[0] if found else None

    async def by_key(self, idempotency_key: str) -> OutboxMessage | None:
        found = await self._select("WHERE idempotency_key = %s", (idempotency_key,))
        return found[0] if found else None

    async def unsent_with_prefix(self, key_prefix: str) -> builtins.list[OutboxMessage]:
        if not key_prefix:
            raise ValueError("an empty key prefix")
        # A range over the unique index (keys are COLLATE "C", so the range is by code point):
        # every key that starts with the prefix sorts in it.
        upper = key_prefix[:-1] + chr(ord(key_prefix[-1]) + 1)
        return await self._select(
            "WHERE idempotency_key >= %s AND idempotency_key < %s"
            " AND status = 'pending' AND parts_sent = 0 ORDER BY id",
            (key_prefix, upper),
        )

    async def rewrite(self, message_id: int, *, body: str) -> bool:
        touched = await change(
            self._db,
            "UPDATE outbox SET body = %s WHERE id = %s AND status = 'pending' AND parts_sent = 0",
            (body, message_id),
        )
        return touched == 1

    async def counts(self) -> dict[OutboxStatus, int]:
        rows = await fetch_all(self._db, "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        counts = {status: 0 for status in OutboxStatus}
        for row in rows:
            counts[OutboxStatus(row["status"])] = int(row["n"])
        return counts

    async def backlog(self) -> OutboxBacklog:
        row = await fetch_one(
            self._db,
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE status = %s",
            (OutboxStatus.PENDING.value,),
        )
        if row is None:
            return OutboxBacklog(0, None)
        return OutboxBacklog(int(row["n"]), row["oldest"])

    async def list(self, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]:
        return await self._select(
            "WHERE status = %s ORDER BY id DESC LIMIT %s", (status.value, limit)
        )

    async def heads(
        self,
        *,
        now: datetime,
        quiet: bool,
        limit: int,
        channels: Collection[ChannelName] | None = None,
    ) -> builtins.list[OutboxMessage]:
        names = sorted({channel.value for channel in channels}) if channels is not None else None
        # An earlier message blocks a later one of the same chat while it is being sent, or is
        # due and unsent (retries keep due_at); in quiet hours only urgent ones count.
        return await self._select(
            "AS o WHERE o.status = 'pending' AND o.not_before <= %(now)s"
            " AND (NOT %(quiet)s OR o.urgent)"
            " AND (%(names)s::text[] IS NULL OR o.channel = ANY(%(names)s::text[]))"
            " AND NOT EXISTS (SELECT 1 FROM outbox AS e"
            "  WHERE e.channel = o.channel AND e.chat_id = o.chat_id"
            "  AND e.status IN ('sending', 'pending') AND e.id < o.id"
            "  AND (e.status = 'sending' OR (COALESCE(e.due_at, e.not_before) <= %(now)s"
            "       AND (NOT %(quiet)s OR e.urgent))))"
            " ORDER BY o.urgent DESC, o.id LIMIT %(limit)s",
            {"now": now, "quiet": quiet, "names": names, "limit": limit},
        )

    async def claim(self, message_id: int, *, now: datetime) -> bool:
        return message_id in await self.claim_many([message_id], now=now)

    async def claim_many(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        ids = list(message_ids)
        if not ids:
            return set()
        # SKIP LOCKED: a row another instance is claiming right now is left to it instead of
        # waited for; the outer status check makes a row claimed and committed meanwhile no
        # longer match (READ COMMITTED re-reads it), so no row is ever claimed twice.
        rows = await fetch_all(
            self._db,
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, lease_owner = %s,"
            " lease_until = %s"
            " WHERE status = 'pending' AND id IN (SELECT id FROM outbox"
            "  WHERE status = 'pending' AND id = ANY(%s) FOR UPDATE SKIP LOCKED)"
            " RETURNING id",
            (self._lease.owner, self._lease.until(now), ids),
        )
        return {int(row["id"]) for row in rows}

    async def renew_leases(self, message_ids: Collection[int], *, now: datetime) -> set[int]:
        ids = list(message_ids)
        if not ids:
            return set()
        rows = await fetch_all(
            self._db,
            "UPDATE outbox SET lease_until = %s"
            " WHERE id = ANY(%s) AND status = 'sending' AND lease_owner = %s RETURNING id",
            (self._lease.until(now), ids, self._lease.owner),
        )
        return {int(row["id"]) for row in rows}

    async def mark_sent_many(
        self, sent: builtins.list[tuple[int, builtins.list[str]]], *, now: datetime
    ) -> None:
        if not sent:
            return
        async with self._db.cursor() as cursor:
            await cursor.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = %s, sent_ids = %s,"
                " last_error = NULL WHERE id = %s",
                [(now, json.dumps(ids), message_id) for message_id, ids in sent],
            )

    async def record_progress(
        self, message_id: int, *, parts_sent: int, sent_ids: builtins.list[str]
    ) -> None:
        await change(
            self._db,
            "UPDATE outbox SET parts_sent = %s, sent_ids = %s WHERE id = %s",
            (parts_sent, json.dumps(sent_ids), message_id),
        )

    async def expire_leases(self, message_ids: Collection[int], *, now: datetime) -> int:
        ids = list(message_ids)
        if not ids:
            return 0
        return await change(
            self._db,
            "UPDATE outbox SET lease_until = %s"
            " WHERE id = ANY(%s) AND status = 'sending' AND lease_owner = %s",
            (now, ids, self._lease.owner),
        )

    async def release_expired(self, *, now: datetime) -> int:
        # SKIP LOCKED: a row its owner is renewing or finishing right now is not expired for
        # long enough to wait for; the next pass sees it again.
        return await change(
            self._db,
            "UPDATE outbox SET status = 'pending', not_before = LEAST(not_before, %s),"
            " lease_owner = NULL, lease_until = NULL"
            " WHERE status = 'sending' AND id IN (SELECT id FROM outbox"
            "  WHERE status = 'sending' AND (lease_until IS NULL OR lease_until <= %s)"
            "  FOR UPDATE SKIP LOCKED)",
            (now, now),
        )

    async def cancel(self, message_id: int, *, reason: str) -> None:
        await change(
            self._db,
            "UPDATE outbox SET status = 'cancelled', last_error = %s WHERE id = %s",
            (reason[:500], message_id),
        )

    async def recently_sent(
        self, *, since: datetime
    ) -> builtins.list[tuple[UserRef, datetime, int]]:
        rows = await fetch_all(
            self._db,
            "SELECT channel, chat_id, sent_at, sent_ids FROM outbox"
            " WHERE status = 'sent' AND sent_at >= %s ORDER BY sent_at",
            (since,),
        )
        found = []
        for row in rows:
            parts = len(json.loads(row["sent_ids"])) if row["sent_ids"] else 1
            if row["sent_at"] is not None:
                found.append(
                    (UserRef(ChannelName(row["channel"]), row["chat_id"]), row["sent_at"], parts)
                )
        return found

    async def next_due(self, *, after: datetime) -> datetime | None:
        row = await fetch_one(
            self._db,
            "SELECT MIN(not_before) AS due FROM outbox"
            " WHERE status = 'pending' AND not_before > %s",
            (after,),
        )
        due: datetime | None = row["due"] if row else None
        return due
