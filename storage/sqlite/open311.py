"""The Open311 API's keys, audit log and posted updates in SQLite (migration 0011)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

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
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, required_time, to_db_time

_KEY_COLUMNS = "id, name, scope, created_at, revoked_at"


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        name=row["name"],
        scope=ApiScope(row["scope"]),
        created_at=required_time(row["created_at"]),
        revoked_at=from_db_time(row["revoked_at"]),
    )


def _placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


class SqliteOpen311Store:
    """``Open311Store`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def create_key(
        self, name: str, scope: ApiScope, key_hash: str, *, now: datetime
    ) -> ApiKey:
        try:
            cursor = await self._db.execute(
                "INSERT INTO api_keys (name, scope, key_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, scope.value, key_hash, to_db_time(now)),
            )
        except sqlite3.IntegrityError as error:
            raise KeyNameTaken(name) from error
        key_id = cursor.lastrowid
        assert key_id is not None
        return ApiKey(id=key_id, name=name, scope=scope, created_at=now)

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = await self._db.execute_fetchall(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?",  # noqa: S608 - constant
            (key_hash,),
        )
        return next((_key(row) for row in rows), None)

    async def list_keys(self) -> list[ApiKey]:
        rows = await self._db.execute_fetchall(
            f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id"  # noqa: S608 - constant
        )
        return [_key(row) for row in rows]

    async def revoke_key(self, name: str, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (to_db_time(now), name),
        )
        return cursor.rowcount > 0

    async def record_write(self, entry: AuditEntry) -> None:
        await self._db.execute(
            "INSERT INTO api_audit (key_name, at, method, path, status, subject)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                entry.key_name,
                to_db_time(entry.at),
                entry.method,
                entry.path,
                entry.status,
                entry.subject,
            ),
        )

    async def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._db.execute_fetchall(
            "SELECT id, key_name, at, method, path, status, subject FROM api_audit"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            AuditEntry(
                id=row["id"],
                key_name=row["key_name"],
                at=required_time(row["at"]),
                method=row["method"],
                path=row["path"],
                status=row["status"],
                subject=row["subject"],
            )
            for row in rows
        ]

    async def posted_update(self, update_id: str) -> PostedUpdate | None:
        rows = await self._db.execute_fetchall(
            "SELECT update_id, request_id, history_id, key_name, at FROM api_updates"
            " WHERE update_id = ?",
            (update_id,),
        )
        return next(
            (
                PostedUpdate(
                    update_id=row["update_id"],
                    request_id=row["request_id"],
                    history_id=row["history_id"],
                    key_name=row["key_name"],
                    at=required_time(row["at"]),
                )
                for row in rows
            ),
            None,
        )

    async def remember_update(self, update: PostedUpdate) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO api_updates (update_id, request_id, history_id, key_name, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                update.update_id,
                update.request_id,
                update.history_id,
                update.key_name,
                to_db_time(update.at),
            ),
        )
        return cursor.rowcount == 1

    async def requests_with_photo(self, ref: str) -> list[int]:
        rows = await self._db.execute_fetchall(
            "SELECT DISTINCT request_id FROM request_photos WHERE ref = ? ORDER BY request_id",
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
            where.append(f"id IN ({_placeholders(len(ids))})")
            params.extend(ids)
        if query.categories is not None:
            categories = sorted({category.value for category in query.categories})
            if not categories:
                return []
            where.append(f"category IN ({_placeholders(len(categories))})")
            params.extend(categories)
        if query.statuses is not None:
            statuses = sorted({status.value for status in query.statuses})
            if not statuses:
                return []
            where.append(f"status IN ({_placeholders(len(statuses))})")
            params.extend(statuses)
        if query.created_from is not None:
            where.append("created_at >= ?")
            params.append(to_db_time(query.created_from))
        if query.created_until is not None:
            where.append("created_at < ?")
            params.append(to_db_time(query.created_until))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.execute_fetchall(
            f"SELECT id FROM requests {clause} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608 - only '?' are interpolated
            (*params, query.limit, query.offset),
        )
        return [int(row["id"]) for row in rows]

    async def status_updates(
        self, *, start: datetime, end: datetime, limit: int
    ) -> list[UpdateRecord]:
        rows = await self._db.execute_fetchall(
            "SELECT h.id, h.request_id, h.event, h.actor_kind, h.actor_id, h.actor_name,"
            " h.from_status, h.to_status, h.note, h.at, u.update_id"
            " FROM request_history AS h LEFT JOIN api_updates AS u ON u.history_id = h.id"
            " WHERE h.event = ? AND h.at >= ? AND h.at < ? ORDER BY h.at, h.id LIMIT ?",
            (EventKind.STATUS.value, to_db_time(start), to_db_time(end), limit),
        )
        return [
            UpdateRecord(
                change=StatusChange(
                    id=row["id"],
                    request_id=row["request_id"],
                    event=EventKind(row["event"]),
                    actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_name"]),
                    at=required_time(row["at"]),
                    from_status=Status(row["from_status"]) if row["from_status"] else None,
                    to_status=Status(row["to_status"]),
                    note=row["note"],
                ),
                posted_update_id=row["update_id"],
            )
            for row in rows
        ]
