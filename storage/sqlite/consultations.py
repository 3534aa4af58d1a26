"""The consultations table in SQLite."""

from __future__ import annotations

import re
from datetime import datetime

from storage.consultations import NewConsultation
from storage.sqlite.connection import Connection
from storage.sqlite.times import to_db_time

QUESTION_LIMIT = 500
_SPACES = re.compile(r"\s+")


def normalize_question(text: str) -> str:
    """Group the same question typed with different spacing or case."""
    return _SPACES.sub(" ", text.strip().lower())[:QUESTION_LIMIT]


class SqliteConsultationStore:
    """Consultation rows over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def record(self, consultation: NewConsultation, *, now: datetime) -> int:
        question = (
            normalize_question(consultation.question)
            if consultation.question and not consultation.matched
            else None
        )
        cursor = await self._db.execute(
            "INSERT INTO consultations (resident_id, channel, topic, source, matched, score,"
            " question, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                consultation.resident_id,
                consultation.channel.value,
                consultation.topic,
                consultation.source,
                int(consultation.matched),
                consultation.score,
                question,
                to_db_time(now),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def set_helpful(self, consultation_id: int, resident_id: int, helpful: bool) -> bool:
        cursor = await self._db.execute(
            "UPDATE consultations SET helpful = ? WHERE id = ? AND resident_id = ?",
            (int(helpful), consultation_id, resident_id),
        )
        return cursor.rowcount == 1

    async def unanswered(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, int]]:
        async with self._db.execute(
            "SELECT question, COUNT(*) AS n FROM consultations"
            " WHERE matched = 0 AND question IS NOT NULL AND created_at >= ?"
            " GROUP BY question ORDER BY n DESC, MAX(created_at) DESC LIMIT ?",
            (to_db_time(since) if since else "", limit),
        ) as cursor:
            return [(row["question"], row["n"]) for row in await cursor.fetchall()]

    async def count_by_topic(self, *, start: datetime, end: datetime) -> dict[str, int]:
        async with self._db.execute(
            "SELECT COALESCE(topic, '') AS topic, COUNT(*) AS n FROM consultations"
            " WHERE created_at >= ? AND created_at < ? GROUP BY COALESCE(topic, '')",
            (to_db_time(start), to_db_time(end)),
        ) as cursor:
            return {row["topic"]: row["n"] for row in await cursor.fetchall()}

    async def total(self) -> int:
        async with self._db.execute("SELECT COUNT(*) FROM consultations") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0
