"""Reads what content editors need from the bot's database, for ``faq unanswered``: the
questions the bot could not answer, the answers residents marked "not helpful", and the topic
suggestions residents did not take."""

from __future__ import annotations

import asyncio
import os

from faq.cli import FeedbackRows
from storage.open import open_storage
from storage.url import DEFAULT_DATABASE_URL

ROWS_FETCHED = 500  # the report ranks and cuts; fetch enough to rank them well


def _url(database_url: str | None) -> str:
    return database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def database_unanswered(database_url: str | None) -> list[tuple[str, int]]:
    """(question, count) rows, most frequent first; ``None`` means ``DATABASE_URL`` or the
    default file under ``data/``."""

    async def read() -> list[tuple[str, int]]:
        storage = await open_storage(_url(database_url))
        try:
            async with storage.transaction() as session:
                return await session.consultations.unanswered(limit=ROWS_FETCHED)
        finally:
            await storage.close()

    return asyncio.run(read())


def database_feedback(database_url: str | None) -> FeedbackRows:
    """Answers marked not helpful and suggestions not taken, most frequent first; the database
    is chosen as in ``database_unanswered``."""

    async def read() -> FeedbackRows:
        storage = await open_storage(_url(database_url))
        try:
            async with storage.transaction() as session:
                store = session.consultations
                return FeedbackRows(
                    not_helpful=[
                        (question, (topic,), count)
                        for question, topic, count in await store.not_helpful(limit=ROWS_FETCHED)
                    ],
                    not_taken=await store.suggestions_not_taken(limit=ROWS_FETCHED),
                )
        finally:
            await storage.close()

    return asyncio.run(read())
