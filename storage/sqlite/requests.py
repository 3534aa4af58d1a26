"""Requests, their history and photos in SQLite (migration 0003)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from domain.identity import ChannelName, UserRef
from domain.requests import (
    OPEN_STATUSES,
    Actor,
    ActorKind,
    Category,
    District,
    EventKind,
    Request,
    Status,
    StatusChange,
)
from storage.requests import NewRequest, NewStatusChange
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, required_time, to_db_time

_COLUMNS = (
    "id, resident_id, channel, chat_id, category, district, address, latitude, longitude,"
    " description, phone, status, executor_id, service_class, urgent, ack_due, resolve_due,"
    " created_at, updated_at, acknowledged_at, done_at"
)
_HISTORY_COLUMNS = (
    "id, request_id, event, actor_kind, actor_id, actor_name, from_status, to_status, note, at"
)
_OPEN = tuple(sorted(status.value for status in OPEN_STATUSES))
_AWAITING_ACK = (Status.NEW.value, Status.REOPENED.value)


def _placeholders(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def _history_row(row: Any) -> StatusChange:
    return StatusChange(
        id=row["id"],
        request_id=row["request_id"],
        event=EventKind(row["event"]),
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_name"]),
        at=required_time(row["at"]),
        from_status=Status(row["from_status"]) if row["from_status"] else None,
        to_status=Status(row["to_status"]),
        note=row["note"],
    )


class SqliteRequestStore:
    """``RequestStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _photos(self, request_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        if not request_ids:
            return {}
        ids = sorted(set(request_ids))
        photos: dict[int, list[str]] = {request_id: [] for request_id in ids}
        async with self._db.execute(
            f"SELECT request_id, ref FROM request_photos WHERE request_id IN ({_placeholders(len(ids))})"  # noqa: S608, E501 - only '?' are interpolated
            " ORDER BY request_id, position",
            ids,
        ) as cursor:
            for row in await cursor.fetchall():
                photos[row["request_id"]].append(row["ref"])
        return {request_id: tuple(refs) for request_id, refs in photos.items()}

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Request]:
        async with self._db.execute(
            f"SELECT {_COLUMNS} FROM requests {where}",  # noqa: S608 - constant SQL, values bound
            params,
        ) as cursor:
            rows = await cursor.fetchall()
        photos = await self._photos([row["id"] for row in rows])
        return [self._row(row, photos.get(row["id"], ())) for row in rows]

    @staticmethod
    def _row(row: Any, photos: tuple[str, ...]) -> Request:
        return Request(
            id=row["id"],
            resident_id=row["resident_id"],
            resident=UserRef(ChannelName(row["channel"]), row["chat_id"]),
            category=Category(row["category"]),
            district=District(row["district"]) if row["district"] else None,
            address=row["address"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            description=row["description"],
            photos=photos,
            phone=row["phone"],
            status=Status(row["status"]),
            executor_id=row["executor_id"],
            service_class=row["service_class"],
            urgent=bool(row["urgent"]),
            ack_due=required_time(row["ack_due"]),
            resolve_due=required_time(row["resolve_due"]),
            created_at=required_time(row["created_at"]),
            updated_at=required_time(row["updated_at"]),
            acknowledged_at=from_db_time(row["acknowledged_at"]),
            done_at=from_db_time(row["done_at"]),
        )

    async def create(self, new: NewRequest) -> Request:
        created = to_db_time(new.created_at)
        cursor = await self._db.execute(
            "INSERT INTO requests (resident_id, channel, chat_id, category, district, address,"
            " latitude, longitude, description, phone, status, executor_id, service_class, urgent,"
            " ack_due, resolve_due, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.resident_id,
                new.resident.channel.value,
                new.resident.user_id,
                new.category.value,
                new.district.value if new.district else None,
                new.address,
                new.latitude,
                new.longitude,
                new.description,
                new.phone,
                new.status.value,
                new.executor_id,
                new.service_class,
                int(new.urgent),
                to_db_time(new.ack_due),
                to_db_time(new.resolve_due),
                created,
                created,
            ),
        )
        request_id = cursor.lastrowid
        assert request_id is not None
        await self.add_photos(request_id, new.photos)
        request = await self.get(request_id)
        assert request is not None
        return request

    async def get(self, request_id: int) -> Request | None:
        found = await self._select("WHERE id = ?", (request_id,))
        return found[0] if found else None

    async def lock(self, request_id: int) -> Request | None:
        # One writer at a time (BEGIN IMMEDIATE): nobody else can change it before we commit.
        return await self.get(request_id)

    async def get_for_resident(self, resident_id: int, request_id: int) -> Request | None:
        found = await self._select("WHERE id = ? AND resident_id = ?", (request_id, resident_id))
        return found[0] if found else None

    async def list_for_resident(
        self,
        resident_id: int,
        *,
        limit: int = 20,
        statuses: Collection[Status] | None = None,
    ) -> list[Request]:
        if statuses is None:
            return await self._select(
                "WHERE resident_id = ? ORDER BY id DESC LIMIT ?", (resident_id, limit)
            )
        values = sorted(status.value for status in statuses)
        if not values:
            return []
        return await self._select(
            f"WHERE resident_id = ? AND status IN ({_placeholders(len(values))})"
            " ORDER BY id DESC LIMIT ?",
            (resident_id, *values, limit),
        )

    async def find_by_phone(self, phone: str, *, limit: int = 20) -> list[Request]:
        return await self._select("WHERE phone = ? ORDER BY id DESC LIMIT ?", (phone, limit))

    async def update(self, request: Request) -> None:
        await self._db.execute(
            "UPDATE requests SET status = ?, executor_id = ?, service_class = ?, urgent = ?,"
            " ack_due = ?, resolve_due = ?, updated_at = ?, acknowledged_at = ?, done_at = ?"
            " WHERE id = ?",
            (
                request.status.value,
                request.executor_id,
                request.service_class,
                int(request.urgent),
                to_db_time(request.ack_due),
                to_db_time(request.resolve_due),
                to_db_time(request.updated_at),
                to_db_time(request.acknowledged_at) if request.acknowledged_at else None,
                to_db_time(request.done_at) if request.done_at else None,
                request.id,
            ),
        )

    async def add_photos(self, request_id: int, refs: Collection[str]) -> None:
        if not refs:
            return
        async with self._db.execute(
            "SELECT COALESCE(MAX(position), -1) FROM request_photos WHERE request_id = ?",
            (request_id,),
        ) as cursor:
            row = await cursor.fetchone()
        start = int(row[0]) + 1 if row else 0
        await self._db.executemany(
            "INSERT INTO request_photos (request_id, position, ref) VALUES (?, ?, ?)",
            [(request_id, start + offset, ref) for offset, ref in enumerate(refs)],
        )

    async def add_history(self, entry: NewStatusChange) -> StatusChange:
        cursor = await self._db.execute(
            "INSERT INTO request_history (request_id, event, actor_kind, actor_id, actor_name,"
            " from_status, to_status, note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.request_id,
                entry.event.value,
                entry.actor.kind.value,
                entry.actor.id,
                entry.actor.name,
                entry.from_status.value if entry.from_status else None,
                entry.to_status.value,
                entry.note,
                to_db_time(entry.at),
            ),
        )
        assert cursor.lastrowid is not None
        return StatusChange(
            id=cursor.lastrowid,
            request_id=entry.request_id,
            event=entry.event,
            actor=entry.actor,
            at=entry.at,
            from_status=entry.from_status,
            to_status=entry.to_status,
            note=entry.note,
        )

    async def history(self, request_id: int) -> list[StatusChange]:
        async with self._db.execute(
            f"SELECT {_HISTORY_COLUMNS} FROM request_history WHERE request_id = ? ORDER BY id",  # noqa: S608
            (request_id,),
        ) as cursor:
            return [_history_row(row) for row in await cursor.fetchall()]

    async def overdue_acknowledgement(self, *, now: datetime, limit: int = 100) -> list[Request]:
        return await self._select(
            f"WHERE status IN ({_placeholders(len(_AWAITING_ACK))}) AND ack_due <= ?"
            " ORDER BY ack_due, id LIMIT ?",
            (*_AWAITING_ACK, to_db_time(now), limit),
        )

    async def overdue_resolution(self, *, now: datetime, limit: int = 100) -> list[Request]:
        return await self._select(
            f"WHERE status IN ({_placeholders(len(_OPEN))}) AND resolve_due <= ?"
            " ORDER BY resolve_due, id LIMIT ?",
            (*_OPEN, to_db_time(now), limit),
        )

    async def by_status(
        self,
        statuses: Collection[Status],
        *,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Request]:
        values = sorted(status.value for status in statuses)
        if not values:
            return []
        return await self._select(
            f"WHERE status IN ({_placeholders(len(values))}) AND id > ? ORDER BY id LIMIT ?",
            (*values, after_id, limit),
        )

    async def done_between(self, start: datetime, end: datetime) -> list[Request]:
        return await self._select(
            "WHERE status = ? AND done_at >= ? AND done_at < ? ORDER BY done_at, id",
            (Status.DONE.value, to_db_time(start), to_db_time(end)),
        )

    async def created_between(self, start: datetime, end: datetime) -> list[Request]:
        return await self._select(
            "WHERE created_at >= ? AND created_at < ? ORDER BY id",
            (to_db_time(start), to_db_time(end)),
        )

    async def count_by_status(self) -> dict[Status, int]:
        async with self._db.execute(
            "SELECT status, COUNT(*) AS n FROM requests GROUP BY status"
        ) as cursor:
            rows = await cursor.fetchall()
        counts = dict.fromkeys(Status, 0)
        for row in rows:
            counts[Status(row["status"])] = row["n"]
        return counts

    async def erase_personal_data(self, resident_id: int, *, now: datetime) -> int:
        await self._db.execute(
            "DELETE FROM request_photos WHERE request_id IN"
            " (SELECT id FROM requests WHERE resident_id = ?)",
            (resident_id,),
        )
        cursor = await self._db.execute(
            "UPDATE requests SET address = NULL, latitude = NULL, longitude = NULL, phone = NULL,"
            " description = '', erased_at = ? WHERE resident_id = ?",
            (to_db_time(now), resident_id),
        )
        return cursor.rowcount
