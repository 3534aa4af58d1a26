"""The consultations table (migration 0006) and the suggestion offers (0007) in SQLite."""

from __future__ import annotations

import re
from datetime import datetime

from storage.consultations import NewConsultation, NewSuggestions, TakenSuggestion
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
        question = normalize_question(consultation.question) if consultation.question else None
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

    async def offer_suggestions(self, offer: NewSuggestions, *, now: datetime) -> int:
        cursor = await self._db.execute(
            "INSERT INTO consultation_suggestions (resident_id, channel, question, topics, score,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                offer.resident_id,
                offer.channel.value,
                normalize_question(offer.question) or None,
                " ".join(offer.topics),
                offer.score,
                to_db_time(now),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def take_suggestion(
        self, offer_id: int, resident_id: int, topic: str, *, now: datetime
    ) -> TakenSuggestion | None:
        async with self._db.execute(
            "SELECT question, topics FROM consultation_suggestions"
            " WHERE id = ? AND resident_id = ?",
            (offer_id, resident_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or topic not in str(row["topics"]).split():
            return None
        await self._db.execute(
            "UPDATE consultation_suggestions SET taken_topic = ?, taken_at = ?"
            " WHERE id = ? AND taken_topic IS NULL",
            (topic, to_db_time(now), offer_id),
        )
        return TakenSuggestion(row["question"])

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

    async def not_helpful(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, str, int]]:
        async with self._db.execute(
            "SELECT question, topic, COUNT(*) AS n FROM consultations"
            " WHERE helpful = 0 AND question IS NOT NULL AND topic IS NOT NULL"
            " AND created_at >= ?"
            " GROUP BY question, topic ORDER BY n DESC, MAX(created_at) DESC LIMIT ?",
            (to_db_time(since) if since else "", limit),
        ) as cursor:
            return [(row["question"], row["topic"], row["n"]) for row in await cursor.fetchall()]

    async def suggestions_not_taken(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, tuple[str, ...], int]]:
        async with self._db.execute(
            "SELECT question, topics, COUNT(*) AS n FROM consultation_suggestions"
            " WHERE taken_topic IS NULL AND question IS NOT NULL AND created_at >= ?"
            " GROUP BY question, topics ORDER BY n DESC, MAX(created_at) DESC LIMIT ?",
            (to_db_time(since) if since else "", limit),
        ) as cursor:
            return [
                (row["question"], tuple(str(row["topics"]).split()), row["n"])
                for row in await cursor.fetchall()
            ]

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
