"""Follow-ups and deadline escalations in SQLite (migration 0004)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.requests import OPEN_STATUSES, Status
from storage.followups import (
    DeadlineKind,
    Followup,
    FollowupOutcome,
    FollowupStatus,
    MissedDeadline,
    Resolution,
)
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, required_time, to_db_time

_COLUMNS = (
    "id, request_id, resolution_at, resident_id, status, asked_at, reminded_at, outcome, rating,"
    " comment, reason, answered_at, reopened_at"
)
_OPEN = tuple(sorted(status.value for status in OPEN_STATUSES))
_AWAITING_ACK = (Status.NEW.value, Status.REOPENED.value)
_MAX_TEXT = 2000


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def _row(row: Any) -> Followup:
    return Followup(
        id=row["id"],
        request_id=row["request_id"],
        resolution_at=required_time(row["resolution_at"]),
        resident_id=row["resident_id"],
        status=FollowupStatus(row["status"]),
        asked_at=required_time(row["asked_at"]),
        reminded_at=from_db_time(row["reminded_at"]),
        outcome=FollowupOutcome(row["outcome"]) if row["outcome"] else None,
        rating=row["rating"],
        comment=row["comment"],
        reason=row["reason"],
        answered_at=from_db_time(row["answered_at"]),
        reopened_at=from_db_time(row["reopened_at"]),
    )


class SqliteFollowupStore:
    """``FollowupStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Followup]:
        async with self._db.execute(
            f"SELECT {_COLUMNS} FROM followups {where}",  # noqa: S608 - constant SQL, values bound
            params,
        ) as cursor:
            return [_row(row) for row in await cursor.fetchall()]

    async def unasked_resolutions(
        self, *, done_before: datetime, done_after: datetime, limit: int = 100
    ) -> list[Resolution]:
        async with self._db.execute(
            "SELECT r.id, r.resident_id, r.done_at, r.erased_at FROM requests AS r"
            " WHERE r.status = ? AND r.done_at > ? AND r.done_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM followups AS f"
            "  WHERE f.request_id = r.id AND f.resolution_at = r.done_at)"
            " ORDER BY r.done_at LIMIT ?",
            (Status.DONE.value, to_db_time(done_after), to_db_time(done_before), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Resolution(
                request_id=row["id"],
                resident_id=row["resident_id"],
                done_at=required_time(row["done_at"]),
                erased=row["erased_at"] is not None,
            )
            for row in rows
        ]

    async def create(
        self,
        *,
        request_id: int,
        resolution_at: datetime,
        resident_id: int,
        now: datetime,
        status: FollowupStatus = FollowupStatus.ASKED,
    ) -> Followup | None:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO followups (request_id, resolution_at, resident_id, status,"
            " asked_at) VALUES (?, ?, ?, ?, ?)",
            (request_id, to_db_time(resolution_at), resident_id, status.value, to_db_time(now)),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        return await self.get(cursor.lastrowid)

    async def get(self, followup_id: int) -> Followup | None:
        found = await self._select("WHERE id = ?", (followup_id,))
        return found[0] if found else None

    async def latest_for_request(self, request_id: int) -> Followup | None:
        found = await self._select("WHERE request_id = ? ORDER BY id DESC LIMIT 1", (request_id,))
        return found[0] if found else None

    async def to_remind(self, *, asked_before: datetime, limit: int = 100) -> list[Followup]:
        return await self._select(
            "WHERE status = ? AND reminded_at IS NULL AND asked_at <= ? ORDER BY asked_at LIMIT ?",
            (FollowupStatus.ASKED.value, to_db_time(asked_before), limit),
        )

    async def mark_reminded(self, followup_id: int, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE followups SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL"
            " AND status = ?",
            (to_db_time(now), followup_id, FollowupStatus.ASKED.value),
        )
        return cursor.rowcount == 1

    async def answer(self, followup_id: int, outcome: FollowupOutcome, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE followups SET status = ?, outcome = ?, answered_at = ?"
            " WHERE id = ? AND outcome IS NULL",
            (FollowupStatus.ANSWERED.value, outcome.value, to_db_time(now), followup_id),
        )
        return cursor.rowcount == 1

    async def set_rating(self, followup_id: int, rating: int) -> None:
        if not 1 <= rating <= 5:
            raise ValueError("a rating is 1 to 5")
        await self._db.execute(
            "UPDATE followups SET rating = ? WHERE id = ?", (rating, followup_id)
        )

    async def set_comment(self, followup_id: int, comment: str) -> None:
        await self._db.execute(
            "UPDATE followups SET comment = ? WHERE id = ?", (comment[:_MAX_TEXT], followup_id)
        )

    async def set_reason(self, followup_id: int, reason: str | None, *, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE followups SET reason = ?, reopened_at = ? WHERE id = ? AND reopened_at IS NULL",
            (reason[:_MAX_TEXT] if reason else None, to_db_time(now), followup_id),
        )
        return cursor.rowcount == 1

    async def awaiting_reason(
        self, *, answered_before: datetime, limit: int = 100
    ) -> list[Followup]:
        return await self._select(
            "WHERE outcome IN (?, ?) AND reopened_at IS NULL AND answered_at <= ?"
            " ORDER BY answered_at LIMIT ?",
            (
                FollowupOutcome.PARTLY.value,
                FollowupOutcome.NO.value,
                to_db_time(answered_before),
                limit,
            ),
        )


class SqliteEscalationStore:
    """``EscalationStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def missed(
        self, *, now: datetime, since: datetime, limit: int = 50
    ) -> list[MissedDeadline]:
        stamp, start = to_db_time(now), to_db_time(since)
        # Two index range scans (requests_ack_due, requests_resolve_due), each without the
        # deadlines already escalated.
        sql = (  # constant SQL: only column names from this module are formatted in
            "SELECT id, ? AS kind, {column} AS deadline FROM requests AS r"
            " WHERE r.status IN ({statuses}) AND r.{column} > ? AND r.{column} <= ?"
            " AND NOT EXISTS (SELECT 1 FROM deadline_escalations AS d WHERE d.request_id = r.id"
            "  AND d.kind = ? AND d.deadline = r.{column})"
        )
        ack = sql.format(column="ack_due", statuses=_marks(len(_AWAITING_ACK)))
        resolve = sql.format(column="resolve_due", statuses=_marks(len(_OPEN)))
        params = (
            DeadlineKind.ACKNOWLEDGE.value,
            *_AWAITING_ACK,
            start,
            stamp,
            DeadlineKind.ACKNOWLEDGE.value,
            DeadlineKind.RESOLVE.value,
            *_OPEN,
            start,
            stamp,
            DeadlineKind.RESOLVE.value,
            limit,
        )
        async with self._db.execute(
            f"{ack} UNION ALL {resolve} ORDER BY deadline, id LIMIT ?",
            params,
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            MissedDeadline(
                request_id=row["id"],
                kind=DeadlineKind(row["kind"]),
                deadline=required_time(row["deadline"]),
            )
            for row in rows
        ]

    async def record(
        self, request_id: int, kind: DeadlineKind, deadline: datetime, *, now: datetime
    ) -> bool:
        cursor = await self._db.execute(
            "INSERT OR IGNORE INTO deadline_escalations (request_id, kind, deadline, escalated_at)"
            " VALUES (?, ?, ?, ?)",
            (request_id, kind.value, to_db_time(deadline), to_db_time(now)),
        )
        return cursor.rowcount == 1
