"""The operator-relay tables and staff prompts in PostgreSQL (migration 0005)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.identity import THREAD_SEPARATOR, UserRef
from storage.postgres.connection import Connection, Row, change, fetch_all, fetch_one
from storage.relay import (
    RelayDirection,
    RelayMessage,
    RelaySession,
    RelayStatus,
    StaffPrompt,
)

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


def _session(row: Row) -> RelaySession:
    return RelaySession(
        id=row["id"],
        resident_id=row["resident_id"],
        status=RelayStatus(row["status"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        closed_by=row["closed_by"],
        outcome=row["outcome"],
        staff_chat=UserRef.parse(row["staff_chat"]) if row["staff_chat"] else None,
        header_sent=row["header_sent"],
        request_id=row["request_id"],
    )


def _message(row: Row) -> RelayMessage:
    return RelayMessage(
        id=row["id"],
        session_id=row["session_id"],
        direction=RelayDirection(row["direction"]),
        text=row["text"],
        photo_ref=row["photo_ref"],
        author=row["author"],
        forwarded=row["forwarded"],
        created_at=row["created_at"],
    )


def _prompt(row: Row) -> StaffPrompt:
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
        created_at=row["created_at"],
    )


def session_from_key(key: str) -> int | None:
    """``relay:<session>:...`` -> the session id."""
    if not key.startswith(RELAY_KEY_PREFIX):
        return None
    number = key[len(RELAY_KEY_PREFIX) :].split(":", 1)[0]
    return int(number) if number.isdigit() else None


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class PostgresRelayStore:
    """Relay sessions, messages, topics and staff-message links over the transaction."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _one_session(self, where: str, params: tuple[Any, ...]) -> RelaySession | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_SESSION_COLUMNS} FROM relay_sessions WHERE {where}",  # noqa: S608
            params,
        )
        return None if row is None else _session(row)

    async def open(self, resident_id: int, *, now: datetime) -> tuple[RelaySession, bool]:
        existing = await self.open_for(resident_id)
        if existing is not None:
            return existing, False
        # The partial unique index is the arbiter: a session another writer opened between
        # our read and this insert wins, and an error would abort the whole transaction.
        row = await fetch_one(
            self._db,
            "INSERT INTO relay_sessions (resident_id, status, opened_at) VALUES (%s, 'open', %s)"
            " ON CONFLICT (resident_id) WHERE status = 'open' DO NOTHING RETURNING id",
            (resident_id, now),
        )
        if row is None:
            found = await self.open_for(resident_id)
            assert found is not None
            return found, False
        created = await self.get(int(row["id"]))
        assert created is not None
        return created, True

    async def get(self, session_id: int) -> RelaySession | None:
        return await self._one_session("id = %s", (session_id,))

    async def open_for(self, resident_id: int) -> RelaySession | None:
        return await self._one_session("resident_id = %s AND status = 'open'", (resident_id,))

    async def latest_for(self, resident_id: int) -> RelaySession | None:
        return await self._one_session("resident_id = %s ORDER BY id DESC LIMIT 1", (resident_id,))

    async def close(self, session_id: int, *, by: str, outcome: str, now: datetime) -> bool:
        closed = await change(
            self._db,
            "UPDATE relay_sessions SET status = 'closed', closed_at = %s, closed_by = %s,"
            " outcome = %s WHERE id = %s AND status = 'open'",
            (now, by, outcome, session_id),
        )
        return closed == 1

    async def set_staff_chat(self, session_id: int, chat: UserRef) -> None:
        await change(
            self._db,
            "UPDATE relay_sessions SET staff_chat = %s WHERE id = %s",
            (str(chat), session_id),
        )

    async def mark_header_sent(self, session_id: int) -> None:
        await change(
            self._db, "UPDATE relay_sessions SET header_sent = true WHERE id = %s", (session_id,)
        )

    async def set_request(self, session_id: int, request_id: int) -> None:
        await change(
            self._db,
            "UPDATE relay_sessions SET request_id = %s WHERE id = %s",
            (request_id, session_id),
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
        row = await fetch_one(
            self._db,
            "INSERT INTO relay_messages (session_id, direction, text, photo_ref, author,"
            " forwarded, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (session_id, direction.value, text, photo_ref, author, forwarded, now),
        )
        assert row is not None
        return int(row["id"])

    async def _messages(self, where: str, params: tuple[Any, ...]) -> list[RelayMessage]:
        rows = await fetch_all(
            self._db,
            f"SELECT {_MESSAGE_COLUMNS} FROM relay_messages WHERE {where} ORDER BY id",  # noqa: S608
            params,
        )
        return [_message(row) for row in rows]

    async def messages(self, session_id: int) -> list[RelayMessage]:
        return await self._messages("session_id = %s", (session_id,))

    async def pending(self, session_id: int) -> list[RelayMessage]:
        return await self._messages(
            "session_id = %s AND direction = 'in' AND NOT forwarded", (session_id,)
        )

    async def sessions_with_pending(self, *, limit: int = 100) -> list[int]:
        rows = await fetch_all(
            self._db,
            "SELECT DISTINCT session_id FROM relay_messages"
            " WHERE NOT forwarded AND direction = 'in' ORDER BY session_id LIMIT %s",
            (limit,),
        )
        return [int(row["session_id"]) for row in rows]

    async def mark_forwarded(self, message_ids: list[int]) -> None:
        if message_ids:
            await change(
                self._db,
                "UPDATE relay_messages SET forwarded = true WHERE id = ANY(%s)",
                (list(message_ids),),
            )

    async def topic(self, staff_chat_id: str, resident_id: int) -> int | None:
        row = await fetch_one(
            self._db,
            "SELECT thread_id FROM relay_topics WHERE staff_chat_id = %s AND resident_id = %s",
            (staff_chat_id, resident_id),
        )
        return None if row is None else int(row["thread_id"])

    async def add_topic(
        self, staff_chat_id: str, resident_id: int, thread_id: int, *, now: datetime
    ) -> int:
        await change(
            self._db,
            "INSERT INTO relay_topics (staff_chat_id, resident_id, thread_id, created_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (staff_chat_id, resident_id, thread_id, now),
        )
        winner = await self.topic(staff_chat_id, resident_id)
        assert winner is not None
        return winner

    async def resident_by_topic(self, staff_chat_id: str, thread_id: int) -> int | None:
        row = await fetch_one(
            self._db,
            "SELECT resident_id FROM relay_topics WHERE staff_chat_id = %s AND thread_id = %s",
            (staff_chat_id, thread_id),
        )
        return None if row is None else int(row["resident_id"])

    async def remember_staff_message(
        self, staff_chat_id: str, message_id: str, session_id: int
    ) -> None:
        await change(
            self._db,
            "INSERT INTO relay_staff_messages (staff_chat_id, message_id, session_id)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (staff_chat_id, message_id, session_id),
        )

    async def session_by_staff_message(self, staff_chat: UserRef, message_id: str) -> int | None:
        staff_chat_id = staff_chat.chat.user_id
        row = await fetch_one(
            self._db,
            "SELECT session_id FROM relay_staff_messages"
            " WHERE staff_chat_id = %s AND message_id = %s",
            (staff_chat_id, message_id),
        )
        if row is not None:
            return int(row["session_id"])
        # Relayed messages reach the staff chat through the outbox, whose worker records the
        # platform's message ids (sent_ids, a JSON array); the key names the session. The chat
        # column may carry a thread ("-100123/45"), so both forms are matched.
        row = await fetch_one(
            self._db,
            "SELECT o.idempotency_key FROM outbox AS o"
            " WHERE o.kind = 'relay' AND o.channel = %s"
            " AND (o.chat_id = %s OR o.chat_id LIKE %s ESCAPE '\\')"
            " AND o.sent_ids IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(o.sent_ids::jsonb) AS sent"
            "  WHERE sent = %s)"
            " ORDER BY o.id DESC LIMIT 1",
            (
                staff_chat.channel.value,
                staff_chat_id,
                _like_prefix(staff_chat_id + THREAD_SEPARATOR),
                message_id,
            ),
        )
        if row is None:
            return None
        session_id = session_from_key(row["idempotency_key"])
        if session_id is not None:
            await self.remember_staff_message(staff_chat_id, message_id, session_id)
        return session_id


class PostgresStaffPromptStore:
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
        # "the next message" never answers a question asked before it. The operator's place is
        # locked first (to the end of the transaction): two prompts added at once on two
        # instances take turns, and the second closes the first's instead of both staying open.
        await fetch_one(
            self._db,
            "SELECT pg_advisory_xact_lock(hashtextextended('staff-prompt:' || current_schema()"
            " || ':' || %s || ':' || %s || ':' || COALESCE(%s::bigint::text, ''), 0)) AS locked",
            (chat_id, user_id, thread_id),
        )
        await change(
            self._db,
            "UPDATE staff_prompts SET done = true WHERE chat_id = %s AND user_id = %s"
            " AND thread_id IS NOT DISTINCT FROM %s::bigint AND NOT done",
            (chat_id, user_id, thread_id),
        )
        row = await fetch_one(
            self._db,
            "INSERT INTO staff_prompts (chat_id, thread_id, prompt_message_id, user_id, action,"
            " request_id, card_chat_id, card_message_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                chat_id,
                thread_id,
                prompt_message_id,
                user_id,
                action,
                request_id,
                card_chat_id,
                card_message_id,
                now,
            ),
        )
        assert row is not None
        return int(row["id"])

    async def by_reply(self, chat_id: str, prompt_message_id: str) -> StaffPrompt | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_PROMPT_COLUMNS} FROM staff_prompts"  # noqa: S608
            " WHERE chat_id = %s AND prompt_message_id = %s AND NOT done",
            (chat_id, prompt_message_id),
        )
        return None if row is None else _prompt(row)

    async def latest_for(
        self, chat_id: str, thread_id: int | None, user_id: str, *, since: datetime
    ) -> StaffPrompt | None:
        row = await fetch_one(
            self._db,
            f"SELECT {_PROMPT_COLUMNS} FROM staff_prompts"  # noqa: S608
            " WHERE chat_id = %s AND thread_id IS NOT DISTINCT FROM %s::bigint"
            " AND user_id = %s AND NOT done AND created_at >= %s ORDER BY id DESC LIMIT 1",
            (chat_id, thread_id, user_id, since),
        )
        return None if row is None else _prompt(row)

    async def finish(self, prompt_id: int) -> bool:
        finished = await change(
            self._db,
            "UPDATE staff_prompts SET done = true WHERE id = %s AND NOT done",
            (prompt_id,),
        )
        return finished == 1
