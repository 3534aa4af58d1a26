"""Requests, their history and photos in PostgreSQL (migration 0003)."""

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
from storage.postgres.connection import Connection, Row, change, fetch_all, fetch_one
from storage.requests import NewRequest, NewStatusChange

_COLUMNS = (
    "id, resident_id, channel, chat_id, category, district, address, latitude, longitude,"
    " description, phone, status, executor_id, service_class, urgent, ack_due, resolve_due,"
    " created_at, updated_at, acknowledged_at, done_at"
)
_HISTORY_COLUMNS = (
    "id, request_id, event, actor_kind, actor_id, actor_name, from_status, to_status, note, at"
)
_OPEN = sorted(status.value for status in OPEN_STATUSES)
_AWAITING_ACK = [Status.NEW.value, Status.REOPENED.value]


def _history_row(row: Row) -> StatusChange:
    return StatusChange(
        id=row["id"],
        request_id=row["request_id"],
        event=EventKind(row["event"]),
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_id"], row["actor_name"]),
        at=row["at"],
        from_status=Status(row["from_status"]) if row["from_status"] else None,
        to_status=Status(row["to_status"]),
        note=row["note"],
    )


def _request(row: Row, photos: tuple[str, ...]) -> Request:
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
        urgent=row["urgent"],
        ack_due=row["ack_due"],
        resolve_due=row["resolve_due"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        done_at=row["done_at"],
    )


class PostgresRequestStore:
    """``RequestStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _photos(self, request_ids: Collection[int]) -> dict[int, tuple[str, ...]]:
        if not request_ids:
            return {}
        ids = sorted(set(request_ids))
        photos: dict[int, list[str]] = {request_id: [] for request_id in ids}
        for row in await fetch_all(
            self._db,
            "SELECT request_id, ref FROM request_photos WHERE request_id = ANY(%s)"
            " ORDER BY request_id, position",
            (ids,),
        ):
            photos[row["request_id"]].append(row["ref"])
        return {request_id: tuple(refs) for request_id, refs in photos.items()}

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Request]:
        rows = await fetch_all(
            self._db,
            f"SELECT {_COLUMNS} FROM requests {where}",  # noqa: S608 - constant SQL, values bound
            params,
        )
        photos = await self._photos([row["id"] for row in rows])
        return [_request(row, photos.get(row["id"], ())) for row in rows]

    async def create(self, new: NewRequest) -> Request:
        row = await fetch_one(
            self._db,
            "INSERT INTO requests (resident_id, channel, chat_id, category, district, address,"
            " latitude, longitude, description, phone, status, executor_id, service_class, urgent,"
            " ack_due, resolve_due, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
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
                new.urgent,
                new.ack_due,
                new.resolve_due,
                new.created_at,
                new.created_at,
            ),
        )
        assert row is not None
        request_id = int(row["id"])
        await self.add_photos(request_id, new.photos)
        request = await self.get(request_id)
        assert request is not None
        return request

    async def get(self, request_id: int) -> Request | None:
        found = await self._select("WHERE id = %s", (request_id,))
        return found[0] if found else None

    async def lock(self, request_id: int) -> Request | None:
        # A row lock held to the end of the transaction: another instance pressing a button on
        # the same request waits here and then reads the status this one wrote, so the status
        # rules are checked against what is stored, never against a stale read.
        found = await self._select("WHERE id = %s FOR UPDATE", (request_id,))
        return found[0] if found else None

    async def get_for_resident(self, resident_id: int, request_id: int) -> Request | None:
        found = await self._select("WHERE id = %s AND resident_id = %s", (request_id, resident_id))
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
                "WHERE resident_id = %s ORDER BY id DESC LIMIT %s", (resident_id, limit)
            )
        values = sorted(status.value for status in statuses)
        if not values:
            return []
        return await self._select(
            "WHERE resident_id = %s AND status = ANY(%s) ORDER BY id DESC LIMIT %s",
            (resident_id, values, limit),
        )

    async def find_by_phone(self, phone: str, *, limit: int = 20) -> list[Request]:
        return await self._select("WHERE phone = %s ORDER BY id DESC LIMIT %s", (phone, limit))

    async def update(self, request: Request) -> None:
        await change(
            self._db,
            "UPDATE requests SET status = %s, executor_id = %s, service_class = %s, urgent = %s,"
            " ack_due = %s, resolve_due = %s, updated_at = %s, acknowledged_at = %s,"
            " done_at = %s WHERE id = %s",
            (
                request.status.value,
                request.executor_id,
                request.service_class,
                request.urgent,
                request.ack_due,
                request.resolve_due,
                request.updated_at,
                request.acknowledged_at,
                request.done_at,
                request.id,
            ),
        )

    async def add_photos(self, request_id: int, refs: Collection[str]) -> None:
        if not refs:
            return
        # The request's row locked first: two instances adding photos to one request take
        # turns, and the second numbers its photos after the first's (MAX + 1 read by both
        # would collide on the primary key).
        await fetch_one(self._db, "SELECT id FROM requests WHERE id = %s FOR UPDATE", (request_id,))
        row = await fetch_one(
            self._db,
            "SELECT COALESCE(MAX(position), -1) AS last FROM request_photos WHERE request_id = %s",
            (request_id,),
        )
        start = int(row["last"]) + 1 if row else 0
        async with self._db.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO request_photos (request_id, position, ref) VALUES (%s, %s, %s)",
                [(request_id, start + offset, ref) for offset, ref in enumerate(refs)],
            )

    async def add_history(self, entry: NewStatusChange) -> StatusChange:
        row = await fetch_one(
            self._db,
            "INSERT INTO request_history (request_id, event, actor_kind, actor_id, actor_name,"
            " from_status, to_status, note, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                entry.request_id,
                entry.event.value,
                entry.actor.kind.value,
                entry.actor.id,
                entry.actor.name,
                entry.from_status.value if entry.from_status else None,
                entry.to_status.value,
                entry.note,
                entry.at,
            ),
        )
        assert row is not None
        return StatusChange(
            id=int(row["id"]),
            request_id=entry.request_id,
            event=entry.event,
            actor=entry.actor,
            at=entry.at,
            from_status=entry.from_status,
            to_status=entry.to_status,
            note=entry.note,
        )

    async def history(self, request_id: int) -> list[StatusChange]:
        rows = await fetch_all(
            self._db,
            f"SELECT {_HISTORY_COLUMNS} FROM request_history WHERE request_id = %s ORDER BY id",  # noqa: S608
            (request_id,),
        )
        return [_history_row(row) for row in rows]

    async def overdue_acknowledgement(self, *, now: datetime, limit: int = 100) -> list[Request]:
        return await self._select(
            "WHERE status = ANY(%s) AND ack_due <= %s ORDER BY ack_due, id LIMIT %s",
            (_AWAITING_ACK, now, limit),
        )

    async def overdue_resolution(self, *, now: datetime, limit: int = 100) -> list[Request]:
        return await self._select(
            "WHERE status = ANY(%s) AND resolve_due <= %s ORDER BY resolve_due, id LIMIT %s",
            (_OPEN, now, limit),
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
            "WHERE status = ANY(%s) AND id > %s ORDER BY id LIMIT %s", (values, after_id, limit)
        )

    async def done_between(self, start: datetime, end: datetime) -> list[Request]:
        return await self._select(
            "WHERE status = %s AND done_at >= %s AND done_at < %s ORDER BY done_at, id",
            (Status.DONE.value, start, end),
        )

    async def created_between(self, start: datetime, end: datetime) -> list[Request]:
        return await self._select(
            "WHERE created_at >= %s AND created_at < %s ORDER BY id", (start, end)
        )

    async def count_by_status(self) -> dict[Status, int]:
        rows = await fetch_all(
            self._db, "SELECT status, COUNT(*) AS n FROM requests GROUP BY status"
        )
        counts = dict.fromkeys(Status, 0)
        for row in rows:
            counts[Status(row["status"])] = int(row["n"])
        return counts

    async def erase_personal_data(self, resident_id: int, *, now: datetime) -> int:
        await change(
            self._db,
            "DELETE FROM request_photos WHERE request_id IN"
            " (SELECT id FROM requests WHERE resident_id = %s)",
            (resident_id,),
        )
        return await change(
            self._db,
            "UPDATE requests SET address = NULL, latitude = NULL, longitude = NULL, phone = NULL,"
            " description = '', erased_at = %s WHERE resident_id = %s",
            (now, resident_id),
        )
