"""Statistics by SQL over requests, follow-ups and consultations (migrations 0003, 0004, 0006)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.identity import ChannelName
from domain.requests import OPEN_STATUSES, EventKind, Status
from storage.postgres.connection import Connection, Row, change, fetch_all
from storage.stats import ExportRow, ProactiveBill, RequestField

_OPEN = sorted(status.value for status in OPEN_STATUSES)
# Column names are chosen from this table, never from input (the SQL stays constant).
_FIELDS: dict[RequestField, str] = {
    "category": "category",
    "district": "COALESCE(district, '')",
    "executor_id": "executor_id",
    "status": "status",
    "channel": "channel",
}


def _period(column: str, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """``AND column >= %s AND column < %s`` for the sides that are set."""
    sql, params = "", []
    if start is not None:
        sql += f" AND {column} >= %s"
        params.append(start)
    if end is not None:
        sql += f" AND {column} < %s"
        params.append(end)
    return sql, params


class PostgresStatsStore:
    """``StatsStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _rows(self, sql: str, params: list[Any] | tuple[Any, ...]) -> list[Row]:
        return await fetch_all(self._db, sql, params)

    async def requests_count(self, *, start: datetime | None, end: datetime | None) -> int:
        where, params = _period("created_at", start, end)
        rows = await self._rows(f"SELECT COUNT(*) AS n FROM requests WHERE true{where}", params)  # noqa: S608
        return int(rows[0]["n"])

    async def requests_by(
        self, field: RequestField, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int]:
        column = _FIELDS[field]
        where, params = _period("created_at", start, end)
        rows = await self._rows(
            f"SELECT {column} AS value, COUNT(*) AS n FROM requests WHERE true{where}"  # noqa: S608
            " GROUP BY 1 ORDER BY n DESC, value",
            params,
        )
        return {row["value"]: int(row["n"]) for row in rows}

    async def resolutions(self, *, start: datetime | None, end: datetime | None) -> tuple[int, int]:
        where, params = _period("h.at", start, end)
        rows = await self._rows(
            "SELECT COUNT(DISTINCT h.request_id) AS done,"  # noqa: S608
            " COUNT(DISTINCT CASE WHEN h.at > r.resolve_due THEN h.request_id END) AS late"
            " FROM request_history AS h JOIN requests AS r ON r.id = h.request_id"
            f" WHERE h.event = %s AND h.to_status = %s{where}",
            [EventKind.STATUS.value, Status.DONE.value, *params],
        )
        return int(rows[0]["done"]), int(rows[0]["late"])

    async def overdue_open(self, *, at: datetime) -> int:
        rows = await self._rows(
            "SELECT COUNT(*) AS n FROM requests WHERE status = ANY(%s) AND resolve_due < %s",
            [_OPEN, at],
        )
        return int(rows[0]["n"])

    async def followup_answers(
        self, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int]:
        where, params = _period("answered_at", start, end)
        rows = await self._rows(
            "SELECT outcome, COUNT(*) AS n FROM followups"  # noqa: S608
            f" WHERE outcome IS NOT NULL{where} GROUP BY outcome",
            params,
        )
        return {row["outcome"]: int(row["n"]) for row in rows}

    async def rating_summary(
        self, *, start: datetime | None, end: datetime | None
    ) -> tuple[float | None, int]:
        where, params = _period("answered_at", start, end)
        rows = await self._rows(
            "SELECT AVG(rating)::double precision AS average, COUNT(rating) AS n"  # noqa: S608
            f" FROM followups WHERE rating IS NOT NULL{where}",
            params,
        )
        average = rows[0]["average"]
        return (float(average) if average is not None else None), int(rows[0]["n"])

    async def consultations_by_topic(
        self, *, start: datetime | None, end: datetime | None
    ) -> dict[str, int] | None:
        where, params = _period("created_at", start, end)
        rows = await self._rows(
            "SELECT CASE WHEN matched THEN COALESCE(topic, '') ELSE '' END AS topic,"  # noqa: S608
            f" COUNT(*) AS n FROM consultations WHERE true{where}"
            " GROUP BY 1 ORDER BY n DESC, topic",
            params,
        )
        return {row["topic"]: int(row["n"]) for row in rows}

    async def unanswered_questions(
        self, *, start: datetime | None, end: datetime | None, limit: int = 5
    ) -> list[tuple[str, int]] | None:
        where, params = _period("created_at", start, end)
        rows = await self._rows(
            "SELECT MIN(question) AS question, COUNT(*) AS n FROM consultations"  # noqa: S608
            f" WHERE NOT matched AND question IS NOT NULL AND TRIM(question) <> ''{where}"
            " GROUP BY LOWER(TRIM(question)) ORDER BY n DESC, question LIMIT %s",
            [*params, limit],
        )
        return [(row["question"], int(row["n"])) for row in rows]

    async def export_requests(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        personal: bool = False,
        limit: int = 100_000,
    ) -> list[ExportRow]:
        where, params = _period("r.created_at", start, end)
        # The latest follow-up of each request (a reopened request may have had several).
        rows = await self._rows(
            "SELECT r.id, r.created_at, r.channel, r.category, r.district, r.status,"  # noqa: S608
            " r.executor_id, r.service_class, r.urgent, r.ack_due, r.resolve_due,"
            " r.acknowledged_at, r.done_at, r.phone, r.address, r.description,"
            " f.outcome, f.rating FROM requests AS r LEFT JOIN followups AS f ON f.id ="
            " (SELECT MAX(id) FROM followups WHERE request_id = r.id)"
            f" WHERE true{where} ORDER BY r.id LIMIT %s",
            [*params, limit],
        )
        photos: dict[int, list[str]] = {}
        for photo in await self._rows(
            "SELECT p.request_id, p.ref FROM request_photos AS p"  # noqa: S608
            f" JOIN requests AS r ON r.id = p.request_id WHERE true{where}"
            " ORDER BY p.request_id, p.position",
            list(params),
        ):
            photos.setdefault(photo["request_id"], []).append(photo["ref"])
        return [
            ExportRow(
                id=row["id"],
                created_at=row["created_at"],
                channel=row["channel"],
                category=row["category"],
                district=row["district"],
                status=row["status"],
                executor_id=row["executor_id"],
                service_class=row["service_class"],
                urgent=row["urgent"],
                ack_due=row["ack_due"],
                resolve_due=row["resolve_due"],
                acknowledged_at=row["acknowledged_at"],
                done_at=row["done_at"],
                followup_outcome=row["outcome"],
                followup_rating=row["rating"],
                photos=tuple(photos.get(row["id"], ())),
                phone=row["phone"] if personal else None,
                address=row["address"] if personal else None,
                description=row["description"] if personal else None,
            )
            for row in rows
        ]

    async def count_proactive(
        self,
        channel: ChannelName,
        month: str,
        *,
        billed: int = 0,
        free: int = 0,
        held: int = 0,
        dropped: int = 0,
    ) -> None:
        await change(
            self._db,
            "INSERT INTO proactive_billing AS b (channel, month, billed, free, held, dropped)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (channel, month) DO UPDATE SET billed = b.billed + excluded.billed,"
            " free = b.free + excluded.free, held = b.held + excluded.held,"
            " dropped = b.dropped + excluded.dropped",
            (channel.value, month, billed, free, held, dropped),
        )

    async def proactive_bill(self, channel: ChannelName, month: str) -> ProactiveBill:
        rows = await self._rows(
            "SELECT billed, free, held, dropped FROM proactive_billing"
            " WHERE channel = %s AND month = %s",
            (channel.value, month),
        )
        if not rows:
            return ProactiveBill(channel, month)
        row = rows[0]
        return ProactiveBill(
            channel, month, row["billed"], row["free"], row["held"], row["dropped"]
        )
