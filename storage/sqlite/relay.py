"""The operator-relay tables and staff prompts in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from domain.identity import THREAD_SEPARATOR, UserRef
from storage.relay import (
    RelayDirection,
    RelayMessage,
    RelaySession,
    RelayStatus,
    StaffPrompt,
)
from storage.sqlite.connection import Connection
from storage.sqlite.times import from_db_time, required_time, to_db_time

_SESSION_COLUMNS = (
    "id, resident_id, status, opened_at, closed_at, closed_by, outcome, staff_chat,"
    " header_sent, request_id"
)
_MESSAGE_COLUMNS = "id, session_id, direction, text, photo_ref, author, forwarded, created_at"
_PROMPT_COLUMNS = (
    "id, chat_id, thread_id, prompt_message_id, user_id, action, request_id, card_chat_id,"
    " card_message_id, created_at"
)
# Outbox keys of relayed messages start with this and the session id (see services.relay).
RELAY_KEY_PREFIX = "relay:"


def _session(row: Any) -> RelaySession:
    return RelaySession(
        id=row["id"],
        resident_id=row["resident_id"],
        status=RelayStatus(row["status"]),
        opened_at=required_time(row["opened_at"]),
        closed_at=from_db_time(row["closed_at"]),
        closed_by=row["closed_by"],
        outcome=row["outcome"],
        staff_chat=UserRef.parse(row["staff_chat"]) if row["staff_chat"] else None,
        header_sent=bool(row["header_sent"]),
        request_id=row["request_id"],
    )


def _message(row: Any) -> RelayMessage:
    return RelayMessage(
        id=row["id"],
        session_id=row["session_id"],
        direction=RelayDirection(row["direction"]),
        text=row["text"],
        photo_ref=row["photo_ref"],
        author=row["author"],
        forwarded=bool(row["forwarded"]),
        created_at=required_time(row["created_at"]),
    )


def _prompt(row: Any) -> StaffPrompt:
    return StaffPrompt(
        id=row["id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        prompt_message_id=row["prompt_message_id"],
        user_id=row["user_id"],
        action=row["action"],
        request_id=row["request_id"],
        card_chat_id=row["card_chat_id"],
        card_message_id=row["card_message_id"],
        created_at=required_time(row["created_at"]),
    )


def session_from_key(key: str) -> int | None:
    """``relay:<session>:...`` -> the session id."""
    if not key.startswith(RELAY_KEY_PREFIX):
        return None
    number = key[len(RELAY_KEY_PREFIX) :].split(":", 1)[0]
    return int(number) if number.isdigit() else None


class SqliteRelayStore:
    """Relay sessions, messages, topics and staff-message links over the transaction."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _one_session(self, where: str, params: tuple[Any, ...]) -> RelaySession | None:
        async with self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM relay_sessions WHERE {where}",  # noqa: S608
            params,
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _session(row)

    async def open(self, resident_id: int, *, now: datetime) -> tuple[RelaySession, bool]:
        existing = await self.open_for(resident_id)
        if existing is not None:
            return existing, False
        try:
            cursor = await self._db.execute(
                "INSERT INTO relay_sessions (resident_id, status, opened_at) VALUES (?, 'open', ?)",
                (resident_id, to_db_time(now)),
            )
        except sqlite3.IntegrityError:
            # Another writer opened one between our read and insert (the partial unique index).
            found = await self.open_for(resident_id)
            assert found is not None
            return found, False
        created = await self.get(int(cursor.lastrowid or 0))
        assert created is not None
        return created, True

    async def get(self, session_id: int) -> RelaySession | None:
        return await self._one_session("id = ?", (session_id,))

    async def open_for(self, resident_id: int) -> RelaySession | None:
        return await self._one_session("resident_id = ? AND status = 'open'", (resident_id,))

    async def latest_for(self, resident_id: int) -> RelaySession | None:
        return await self._one_session("resident_id = ? ORDER BY id DESC LIMIT 1", (resident_id,))

    async def close(self, session_id: int, *, by: str, outcome: str, now: datetime) -> bool:
        cursor = await self._db.execute(
            "UPDATE relay_sessions SET status = 'closed', closed_at = ?, closed_by = ?,"
            " outcome = ? WHERE id = ? AND status = 'open'",
            (to_db_time(now), by, outcome, session_id),
        )
        return cursor.rowcount == 1

    async def set_staff_chat(self, session_id: int, chat: UserRef) -> None:
        await self._db.execute(
            "UPDATE relay_sessions SET staff_chat = ? WHERE id = ?", (str(chat), session_id)
        )

    async def mark_header_sent(self, session_id: int) -> None:
        await self._db.execute(
            "UPDATE relay_sessions SET header_sent = 1 WHERE id = ?", (session_id,)
        )

    async def set_request(self, session_id: int, request_id: int) -> None:
        await self._db.execute(
            "UPDATE relay_sessions SET request_id = ? WHERE id = ?", (request_id, session_id)
        )

    async def add_message(
        self,
        session_id: int,
        direction: RelayDirection,
        *,
        text: str | None,
        photo_ref: str | None,
        now: datetime,
        author: str | None = None,
        forwarded: bool = False,
    ) -> int:
        cursor = await self._db.execute(
            "INSERT INTO relay_messages (session_id, direction, text, photo_ref, author,"
            " forwarded, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                direction.value,
                text,
                photo_ref,
                author,
                int(forwarded),
                to_db_time(now),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def _messages(self, where: str, params: tuple[Any, ...]) -> list[RelayMessage]:
        async with self._db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM relay_messages WHERE {where} ORDER BY id",  # noqa: S608
            params,
        ) as cursor:
            return [_message(row) for row in await cursor.fetchall()]

    async def messages(self, session_id: int) -> list[RelayMessage]:
        return await self._messages("session_id = ?", (session_id,))

    async def pending(self, session_id: int) -> list[RelayMessage]:
        return await self._messages(
            "session_id = ? AND direction = 'in' AND forwarded = 0", (session_id,)
        )

    async def sessions_with_pending(self, *, limit: int = 100) -> list[int]:
        async with self._db.execute(
            "SELECT DISTINCT session_id FROM relay_messages"
            " WHERE forwarded = 0 AND direction = 'in' ORDER BY session_id LIMIT ?",
            (limit,),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def mark_forwarded(self, message_ids: list[int]) -> None:
        await self._db.executemany(
            "UPDATE relay_messages SET forwarded = 1 WHERE id = ?",
            [(message_id,) for message_id in message_ids],
        )

    async def topic(self, staff_chat_id: str, resident_id: int) -> int | None:
        async with self._db.execute(
            "SELECT thread_id FROM relay_topics WHERE staff_chat_id = ? AND resident_id = ?",
            (staff_chat_id, resident_id),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def add_topic(
        self, staff_chat_id: str, resident_id: int, thread_id: int, *, now: datetime
    ) -> int:
        await self._db.execute(
            "INSERT OR IGNORE INTO relay_topics (staff_chat_id, resident_id, thread_id,"
            " created_at) VALUES (?, ?, ?, ?)",
            (staff_chat_id, resident_id, thread_id, to_db_time(now)),
        )
        winner = await self.topic(staff_chat_id, resident_id)
        assert winner is not None
        return winner

    async def resident_by_topic(self, staff_chat_id: str, thread_id: int) -> int | None:
        async with self._db.execute(
            "SELECT resident_id FROM relay_topics WHERE staff_chat_id = ? AND thread_id = ?",
            (staff_chat_id, thread_id),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def remember_staff_message(
        self, staff_chat_id: str, message_id: str, session_id: int
    ) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO relay_staff_messages (staff_chat_id, message_id, session_id)"
            " VALUES (?, ?, ?)",
            (staff_chat_id, message_id, session_id),
        )

    async def session_by_staff_message(self, staff_chat: UserRef, message_id: str) -> int | None:
        staff_chat_id = staff_chat.chat.user_id
        async with self._db.execute(
            "SELECT session_id FROM relay_staff_messages"
            " WHERE staff_chat_id = ? AND message_id = ?",
            (staff_chat_id, message_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is not None:
            return int(row[0])
        # Relayed messages reach the staff chat through the outbox, whose worker records the
        # platform's message ids (sent_ids); the key names the session. The chat column may carry
        # a thread ("-100123/45"), so both forms are matched.
        async with self._db.execute(
            "SELECT outbox.idempotency_key FROM outbox, json_each(outbox.sent_ids) AS sent"
            " WHERE outbox.kind = 'relay' AND outbox.channel = ?"
            " AND (outbox.chat_id = ? OR outbox.chat_id LIKE ? ESCAPE '\\')"
            " AND outbox.sent_ids IS NOT NULL AND CAST(sent.value AS TEXT) = ?"
            " ORDER BY outbox.id DESC LIMIT 1",
            (
                staff_chat.channel.value,
                staff_chat_id,
                _like_prefix(staff_chat_id + THREAD_SEPARATOR),
                message_id,
            ),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        session_id = session_from_key(row[0])
        if session_id is not None:
            await self.remember_staff_message(staff_chat_id, message_id, session_id)
        return session_id


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class SqliteStaffPromptStore:
    """Prompts awaiting an operator's answer, in ``staff_prompts``."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def add(
        self,
        *,
        chat_id: str,
        thread_id: int | None,
        prompt_message_id: str | None,
        user_id: str,
        action: str,
        request_id: int,
        card_chat_id: str | None,
        card_message_id: str | None,
        now: datetime,
    ) -> int:
        # A newer prompt to the same operator in the same place replaces the older one, so
        # "the next message" never answers a question asked before it.
        await self._db.execute(
            "UPDATE staff_prompts SET done = 1 WHERE chat_id = ? AND user_id = ?"
            " AND thread_id IS ? AND done = 0",
            (chat_id, user_id, thread_id),
        )
        cursor = await self._db.execute(
            "INSERT INTO staff_prompts (chat_id, thread_id, prompt_message_id, user_id, action,"
            " request_id, card_chat_id, card_message_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat_id,
                thread_id,
                prompt_message_id,
                user_id,
                action,
                request_id,
                card_chat_id,
                card_message_id,
                to_db_time(now),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def by_reply(self, chat_id: str, prompt_message_id: str) -> StaffPrompt | None:
        async with self._db.execute(
            f"SELECT {_PROMPT_COLUMNS} FROM staff_prompts"  # noqa: S608
            " WHERE chat_id = ? AND prompt_message_id = ? AND done = 0",
            (chat_id, prompt_message_id),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _prompt(row)

    async def latest_for(
        self, chat_id: str, thread_id: int | None, user_id: str, *, since: datetime
    ) -> StaffPrompt | None:
        async with self._db.execute(
            f"SELECT {_PROMPT_COLUMNS} FROM staff_prompts"  # noqa: S608
            " WHERE chat_id = ? AND thread_id IS ? AND user_id = ? AND done = 0"
            " AND created_at >= ? ORDER BY id DESC LIMIT 1",
            (chat_id, thread_id, user_id, to_db_time(since)),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _prompt(row)

    async def finish(self, prompt_id: int) -> bool:
        cursor = await self._db.execute(
            "UPDATE staff_prompts SET done = 1 WHERE id = ? AND done = 0", (prompt_id,)
        )
        return cursor.rowcount == 1
