"""Reads the questions the bot could not answer from the bot's database, for ``faq unanswered``."""

from __future__ import annotations

import asyncio
import os

from storage.sqlite import open_storage
from storage.url import DEFAULT_DATABASE_URL

ROWS_FETCHED = 500  # the report ranks and cuts; fetch enough to rank them well


def database_unanswered(database_url: str | None) -> list[tuple[str, int]]:
    """(question, count) rows, most frequent first; ``None`` means ``DATABASE_URL`` or the
    default file under ``data/``."""
    url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL

    async def read() -> list[tuple[str, int]]:
        storage = await open_storage(url)
        try:
            async with storage.transaction() as session:
                return await session.consultations.unanswered(limit=ROWS_FETCHED)
        finally:
            await storage.close()

    return asyncio.run(read())
