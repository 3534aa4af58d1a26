"""Card copies in SQLite (migration 0010)."""

from __future__ import annotations

from datetime import datetime

from domain.identity import ChannelName, UserRef
from storage.card_copies import CardCopy
from storage.sqlite.connection import Connection
from storage.sqlite.times import to_db_time


class SqliteCardCopyStore:
    """``CardCopyStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def add(
        self, request_id: int, chat: UserRef, message_id: str, *, caption: bool, now: datetime
    ) -> None:
        # Only for a request that exists: a card's delivery is never refused over its copy.
        await self._db.execute(
            "INSERT OR IGNORE INTO card_copies"
            " (request_id, channel, chat_id, message_id, caption, created_at)"
            " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM requests WHERE id = ?)",
            (
                request_id,
                chat.channel.value,
                chat.user_id,
                message_id,
                int(caption),
                to_db_time(now),
                request_id,
            ),
        )

    async def for_request(self, request_id: int) -> list[CardCopy]:
        async with self._db.execute(
            "SELECT id, request_id, channel, chat_id, message_id, caption FROM card_copies"
            " WHERE request_id = ? ORDER BY id",
            (request_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            CardCopy(
                id=row["id"],
                request_id=row["request_id"],
                chat=UserRef(ChannelName(row["channel"]), row["chat_id"]),
                message_id=row["message_id"],
                caption=bool(row["caption"]),
            )
            for row in rows
        ]

    async def remove(self, chat: UserRef, message_id: str) -> None:
        await self._db.execute(
            "DELETE FROM card_copies WHERE channel = ? AND chat_id = ? AND message_id = ?",
            (chat.channel.value, chat.user_id, message_id),
        )
