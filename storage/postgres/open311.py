"""The Open311 API's keys, audit log and posted updates in PostgreSQL (migration 0011)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import errors

from domain.requests import Actor, ActorKind, EventKind, Status, StatusChange
from storage.open311 import (
    ApiKey,
    ApiScope,
    AuditEntry,
    KeyNameTaken,
    PostedUpdate,
    RequestQuery,
    UpdateRecord,
)
from storage.postgres.connection import Connection, Row, change, fetch_all, fetch_one

_KEY_COLUMNS = "id, name, scope, created_at, revoked_at"


def _key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=ApiScope(row["scope"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class PostgresOpen311Store:
    """``Open311Store`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def create_key(
        self, name: str, scope: ApiScope, key_hash: str, *, now: datetime
    ) -> ApiKey:
        try:
            # A savepoint: a taken name fails this statement only, not the whole transaction
            # (PostgreSQL refuses every later statement of a transaction after an error).
            async with self._db.transaction():
                row = await fetch_one(
                    self._db,
                    "INSERT INTO api_keys (name, scope, key_hash, created_at)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (name, scope.value, key_hash, now),
                )
        except errors.UniqueViolation as error:
            raise KeyNameTaken(name) from error
        assert row is not None
        return ApiKey(id=row["id"], name=name, scope=scope, created_at=now)

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = %s",  # noqa: S608 - constant
            (key_hash,),
        )
        return _key(row) if row is not None else None

    async def list_keys(self) -> list[ApiKey]:
        rows = await fetch_all(
            self._db,
            f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id",  # noqa: S608 - constant
        )
        return [_key(row) for row in rows]

    async def revoke_key(self, name: str, *, now: datetime) -> bool:
        touched = await change(
            self._db,
            "UPDATE api_keys SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL",
            (now, name),
        )
        return touched > 0

    async def record_write(self, entry: AuditEntry) -> None:
        await change(
            self._db,
            "INSERT INTO api_audit (key_name, at, method, path, status, subject)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (entry.key_name, entry.at, entry.method, entry.path, entry.status, entry.subject),
        )

    async def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = await fetch_all(
            self._db,
            "SELECT id, key_name, at, method, path, status, subject FROM api_audit"
            " ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return [
            AuditEntry(
                id=row["id"],
                key_name=row["key_name"],
                at=row["at"],
                method=row["method"],
                path=row["path"],
                status=row["status"],
                subject=row["subject"],
            )
            for row in rows
        ]

    async def posted_update(self, update_id: str) -> PostedUpdate | None:
        row = await fetch_one(
            self._db,
            "SELECT update_id, request_id, history_id, key_name, at FROM api_updates"
            " WHERE update_id = %s",
            (update_id,),
        )
        if row is None:
            return None
        return PostedUpdate(
            update_id=row["update_id"],
            request_id=row["request_id"],
            history_id=row["history_id"],
            key_name=row["key_name"],
            at=row["at"],
        )

    async def remember_update(self, update: PostedUpdate) -> bool:
        touched = await change(
            self._db,
            "INSERT INTO api_updates (update_id, request_id, history_id, key_name, at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (update_id) DO NOTHING",
            (update.update_id, update.request_id, update.history_id, update.key_name, update.at),
        )
        return touched == 1

    async def requests_with_photo(self, ref: str) -> list[int]:
        rows = await fetch_all(
            self._db,
            "SELECT DISTINCT request_id FROM request_photos WHERE ref = %s ORDER BY request_id",
            (ref,),
        )
        return [int(row["request_id"]) for row in rows]

    async def request_ids(self, query: RequestQuery) -> list[int]:
        where: list[str] = []
        params: list[Any] = []
        if query.ids is not None:
            ids = sorted(set(query.ids))
            if not ids:
                return []
            where.append("id = ANY(%s)")
            params.append(ids)
        if query.categories is not None:
            categories = sorted({category.value for category in query.categories})
            if not categories:
                return []
            where.append("category = ANY(%s)")
            params.append(categories)
        if query.statuses is not None:
            statuses = sorted({status.value for status in query.statuses})
            if not statuses:
                return []
            where.append("status = ANY(%s)")
            params.append(statuses)
        if query.created_from is not None:
            where.append("created_at >= %s")
            params.append(query.created_from)
        if query.created_until is not None:
            where.append("created_at < %s")
            params.append(query.created_until)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await fetch_all(
            self._db,
            f"SELECT id FROM requests {clause} ORDER BY id DESC LIMIT %s OFFSET %s",  # noqa: S608 - only placeholders are interpolated
            (*params, query.limit, query.offset),
        )
        return [int(row["id"]) for row in rows]

    async def status_updates(
        self, *, start: datetime, end: datetime, limit: int
    ) -> list[UpdateRecord]:
        rows = await fetch_all(
            self._db,
            "SELECT h.id, h.request_id, h.event, h.actor_kind, h.actor_id, h.actor_name,"
            " h.from_status, h.to_status, h.note, h.at, u.update_id"
            " FROM request_history AS h LEFT JOIN api_updates AS u ON u.history_id = h.id"
            " WHERE h.event = %s AND h.at >= %s AND h.at < %s ORDER BY h.at, h.id LIMIT %s",
            (EventKind.STATUS.value, start, end, limit),
        )
        return [
            UpdateRecord(
                change=StatusChange(
                    id=row["id"],
                    request_id=row["request_id"],
                    event=EventKind(row["event"]),
                    actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_name"]),
                    at=row["at"],
                    from_status=Status(row["from_status"]) if row["from_status"] else None,
                    to_status=Status(row["to_status"]),
                    note=row["note"],
                ),
                posted_update_id=row["update_id"],
            )
            for row in rows
        ]
