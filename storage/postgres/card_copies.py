"""Card copies in PostgreSQL (migration 0010)."""

from __future__ import annotations

from datetime import datetime

from domain.identity import ChannelName, UserRef
from storage.card_copies import CardCopy
from storage.postgres.connection import Connection, change, fetch_all


class PostgresCardCopyStore:
    """``CardCopyStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def add(
        self, request_id: int, chat: UserRef, message_id: str, *, caption: bool, now: datetime
    ) -> None:
        # Only for a request that exists: a card's delivery is never refused over its copy.
        await change(
            self._db,
            "INSERT INTO card_copies"
            " (request_id, channel, chat_id, message_id, caption, created_at)"
            " SELECT %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM requests WHERE id = %s)"
            " ON CONFLICT (channel, chat_id, message_id) DO NOTHING",
            (request_id, chat.channel.value, chat.user_id, message_id, caption, now, request_id),
        )

    async def for_request(self, request_id: int) -> list[CardCopy]:
        rows = await fetch_all(
            self._db,
            "SELECT id, request_id, channel, chat_id, message_id, caption FROM card_copies"
            " WHERE request_id = %s ORDER BY id",
            (request_id,),
        )
        return [
            CardCopy(
                id=row["id"],
                request_id=row["request_id"],
                chat=UserRef(ChannelName(row["channel"]), row["chat_id"]),
                message_id=row["message_id"],
                caption=row["caption"],
            )
            for row in rows
        ]

    async def remove(self, chat: UserRef, message_id: str) -> None:
        await change(
            self._db,
            "DELETE FROM card_copies WHERE channel = %s AND chat_id = %s AND message_id = %s",
            (chat.channel.value, chat.user_id, message_id),
        )
