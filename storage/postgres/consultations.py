"""The consultations table (migration 0006) and the suggestion offers (0007) in PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from storage.consultations import NewConsultation, NewSuggestions, TakenSuggestion
from storage.postgres.connection import Connection, change, fetch_all, fetch_one
from storage.sqlite.consultations import normalize_question

__all__ = ["PostgresConsultationStore"]


class PostgresConsultationStore:
    """Consultation rows over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def record(self, consultation: NewConsultation, *, now: datetime) -> int:
        question = normalize_question(consultation.question) if consultation.question else None
        row = await fetch_one(
            self._db,
            "INSERT INTO consultations (resident_id, channel, topic, source, matched, score,"
            " question, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                consultation.resident_id,
                consultation.channel.value,
                consultation.topic,
                consultation.source,
                consultation.matched,
                consultation.score,
                question,
                now,
            ),
        )
        assert row is not None
        return int(row["id"])

    async def set_helpful(self, consultation_id: int, resident_id: int, helpful: bool) -> bool:
        changed = await change(
            self._db,
            "UPDATE consultations SET helpful = %s WHERE id = %s AND resident_id = %s",
            (helpful, consultation_id, resident_id),
        )
        return changed == 1

    async def offer_suggestions(self, offer: NewSuggestions, *, now: datetime) -> int:
        row = await fetch_one(
            self._db,
            "INSERT INTO consultation_suggestions (resident_id, channel, question, topics, score,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (
                offer.resident_id,
                offer.channel.value,
                normalize_question(offer.question) or None,
                " ".join(offer.topics),
                offer.score,
                now,
            ),
        )
        assert row is not None
        return int(row["id"])

    async def take_suggestion(
        self, offer_id: int, resident_id: int, topic: str, *, now: datetime
    ) -> TakenSuggestion | None:
        row = await fetch_one(
            self._db,
            "SELECT question, topics FROM consultation_suggestions"
            " WHERE id = %s AND resident_id = %s",
            (offer_id, resident_id),
        )
        if row is None or topic not in str(row["topics"]).split():
            return None
        await change(
            self._db,
            "UPDATE consultation_suggestions SET taken_topic = %s, taken_at = %s"
            " WHERE id = %s AND taken_topic IS NULL",
            (topic, now, offer_id),
        )
        return TakenSuggestion(row["question"])

    async def unanswered(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, int]]:
        rows = await fetch_all(
            self._db,
            "SELECT question, COUNT(*) AS n FROM consultations"
            " WHERE NOT matched AND question IS NOT NULL"
            " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)"
            " GROUP BY question ORDER BY n DESC, MAX(created_at) DESC LIMIT %(limit)s",
            {"since": since, "limit": limit},
        )
        return [(row["question"], int(row["n"])) for row in rows]

    async def not_helpful(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, str, int]]:
        rows = await fetch_all(
            self._db,
            "SELECT question, topic, COUNT(*) AS n FROM consultations"
            " WHERE helpful = false AND question IS NOT NULL AND topic IS NOT NULL"
            " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)"
            " GROUP BY question, topic ORDER BY n DESC, MAX(created_at) DESC LIMIT %(limit)s",
            {"since": since, "limit": limit},
        )
        return [(row["question"], row["topic"], int(row["n"])) for row in rows]

    async def suggestions_not_taken(
        self, *, limit: int = 20, since: datetime | None = None
    ) -> list[tuple[str, tuple[str, ...], int]]:
        rows = await fetch_all(
            self._db,
            "SELECT question, topics, COUNT(*) AS n FROM consultation_suggestions"
            " WHERE taken_topic IS NULL AND question IS NOT NULL"
            " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)"
            " GROUP BY question, topics ORDER BY n DESC, MAX(created_at) DESC LIMIT %(limit)s",
            {"since": since, "limit": limit},
        )
        return [(row["question"], tuple(str(row["topics"]).split()), int(row["n"])) for row in rows]

    async def count_by_topic(self, *, start: datetime, end: datetime) -> dict[str, int]:
        rows = await fetch_all(
            self._db,
            "SELECT COALESCE(topic, '') AS topic, COUNT(*) AS n FROM consultations"
            " WHERE created_at >= %s AND created_at < %s GROUP BY COALESCE(topic, '')",
            (start, end),
        )
        return {row["topic"]: int(row["n"]) for row in rows}

    async def total(self) -> int:
        row = await fetch_one(self._db, "SELECT COUNT(*) AS n FROM consultations")
        return int(row["n"]) if row else 0
