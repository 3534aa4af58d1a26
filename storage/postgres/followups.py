"""Follow-ups and deadline escalations in PostgreSQL (migration 0004)."""

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
from storage.postgres.connection import Connection, Row, change, fetch_all, fetch_one

_COLUMNS = (
    "id, request_id, resolution_at, resident_id, status, asked_at, reminded_at, outcome, rating,"
    " comment, reason, answered_at, reopened_at"
)
_OPEN = sorted(status.value for status in OPEN_STATUSES)
_AWAITING_ACK = [Status.NEW.value, Status.REOPENED.value]
_MAX_TEXT = 2000


def _row(row: Row) -> Followup:
    return Followup(
        id=row["id"],
        request_id=row["request_id"],
        resolution_at=row["resolution_at"],
        resident_id=row["resident_id"],
        status=FollowupStatus(row["status"]),
        asked_at=row["asked_at"],
        reminded_at=row["reminded_at"],
        outcome=FollowupOutcome(row["outcome"]) if row["outcome"] else None,
        rating=row["rating"],
        comment=row["comment"],
        reason=row["reason"],
        answered_at=row["answered_at"],
        reopened_at=row["reopened_at"],
    )


class PostgresFollowupStore:
    """``FollowupStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _select(self, where: str, params: tuple[Any, ...]) -> list[Followup]:
        rows = await fetch_all(
            self._db,
            f"SELECT {_COLUMNS} FROM followups {where}",  # noqa: S608 - constant SQL, values bound
            params,
        )
        return [_row(row) for row in rows]

    async def unasked_resolutions(
        self, *, done_before: datetime, done_after: datetime, limit: int = 100
    ) -> list[Resolution]:
        rows = await fetch_all(
            self._db,
            "SELECT r.id, r.resident_id, r.done_at, r.erased_at FROM requests AS r"
            " WHERE r.status = %s AND r.done_at > %s AND r.done_at <= %s"
            " AND NOT EXISTS (SELECT 1 FROM followups AS f"
            "  WHERE f.request_id = r.id AND f.resolution_at = r.done_at)"
            " ORDER BY r.done_at LIMIT %s",
            (Status.DONE.value, done_after, done_before, limit),
        )
        return [
            Resolution(
                request_id=row["id"],
                resident_id=row["resident_id"],
                done_at=row["done_at"],
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
        row = await fetch_one(
            self._db,
            "INSERT INTO followups (request_id, resolution_at, resident_id, status, asked_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (request_id, resolution_at) DO NOTHING"
            " RETURNING id",
            (request_id, resolution_at, resident_id, status.value, now),
        )
        if row is None:
            return None
        return await self.get(int(row["id"]))

    async def get(self, followup_id: int) -> Followup | None:
        found = await self._select("WHERE id = %s", (followup_id,))
        return found[0] if found else None

    async def latest_for_request(self, request_id: int) -> Followup | None:
        found = await self._select("WHERE request_id = %s ORDER BY id DESC LIMIT 1", (request_id,))
        return found[0] if found else None

    async def to_remind(self, *, asked_before: datetime, limit: int = 100) -> list[Followup]:
        return await self._select(
            "WHERE status = %s AND reminded_at IS NULL AND asked_at <= %s"
            " ORDER BY asked_at LIMIT %s",
            (FollowupStatus.ASKED.value, asked_before, limit),
        )

    async def mark_reminded(self, followup_id: int, *, now: datetime) -> bool:
        changed = await change(
            self._db,
            "UPDATE followups SET reminded_at = %s WHERE id = %s AND reminded_at IS NULL"
            " AND status = %s",
            (now, followup_id, FollowupStatus.ASKED.value),
        )
        return changed == 1

    async def answer(self, followup_id: int, outcome: FollowupOutcome, *, now: datetime) -> bool:
        changed = await change(
            self._db,
            "UPDATE followups SET status = %s, outcome = %s, answered_at = %s"
            " WHERE id = %s AND outcome IS NULL",
            (FollowupStatus.ANSWERED.value, outcome.value, now, followup_id),
        )
        return changed == 1

    async def set_rating(self, followup_id: int, rating: int) -> None:
        if not 1 <= rating <= 5:
            raise ValueError("a rating is 1 to 5")
        await change(
            self._db, "UPDATE followups SET rating = %s WHERE id = %s", (rating, followup_id)
        )

    async def set_comment(self, followup_id: int, comment: str) -> None:
        await change(
            self._db,
            "UPDATE followups SET comment = %s WHERE id = %s",
            (comment[:_MAX_TEXT], followup_id),
        )

    async def set_reason(self, followup_id: int, reason: str | None, *, now: datetime) -> bool:
        changed = await change(
            self._db,
            "UPDATE followups SET reason = %s, reopened_at = %s"
            " WHERE id = %s AND reopened_at IS NULL",
            (reason[:_MAX_TEXT] if reason else None, now, followup_id),
        )
        return changed == 1

    async def awaiting_reason(
        self, *, answered_before: datetime, limit: int = 100
    ) -> list[Followup]:
        return await self._select(
            "WHERE outcome IN (%s, %s) AND reopened_at IS NULL AND answered_at <= %s"
            " ORDER BY answered_at LIMIT %s",
            (FollowupOutcome.PARTLY.value, FollowupOutcome.NO.value, answered_before, limit),
        )


class PostgresEscalationStore:
    """``EscalationStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def missed(
        self, *, now: datetime, since: datetime, limit: int = 50
    ) -> list[MissedDeadline]:
        # Two index range scans (requests_ack_due, requests_resolve_due), each without the
        # deadlines already escalated.
        sql = (  # constant SQL: only column names from this module are formatted in
            "SELECT id, %(kind_{column})s::text AS kind, {column} AS deadline FROM requests AS r"
            " WHERE r.status = ANY(%(statuses_{column})s) AND r.{column} > %(since)s"
            " AND r.{column} <= %(now)s"
            " AND NOT EXISTS (SELECT 1 FROM deadline_escalations AS d WHERE d.request_id = r.id"
            "  AND d.kind = %(kind_{column})s AND d.deadline = r.{column})"
        )
        ack = sql.format(column="ack_due")
        resolve = sql.format(column="resolve_due")
        rows = await fetch_all(
            self._db,
            f"{ack} UNION ALL {resolve} ORDER BY deadline, id LIMIT %(limit)s",
            {
                "kind_ack_due": DeadlineKind.ACKNOWLEDGE.value,
                "statuses_ack_due": _AWAITING_ACK,
                "kind_resolve_due": DeadlineKind.RESOLVE.value,
                "statuses_resolve_due": _OPEN,
                "since": since,
                "now": now,
                "limit": limit,
            },
        )
        return [
            MissedDeadline(
                request_id=row["id"],
                kind=DeadlineKind(row["kind"]),
                deadline=row["deadline"],
            )
            for row in rows
        ]

    async def record(
        self, request_id: int, kind: DeadlineKind, deadline: datetime, *, now: datetime
    ) -> bool:
        inserted = await change(
            self._db,
            "INSERT INTO deadline_escalations (request_id, kind, deadline, escalated_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (request_id, kind.value, deadline, now),
        )
        return inserted == 1
