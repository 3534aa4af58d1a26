"""Erasure of a resident's personal data across the SQLite tables (policy: ``storage.privacy``).

Every statement is a keyed UPDATE or DELETE on rows found by the resident's id, their requests,
relay sessions and follow-ups; outbox rows about them are found by their chat, their resident id
and the idempotency-key prefixes other features use (``req:<id>:``, ``dl:<id>:``,
``relay:<session>:``, ``fu:<follow-up>:``), each a range on the key's unique index.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from domain.requests import OPEN_STATUSES, ActorKind, Status
from storage.privacy import ERASED_BODY, ERASED_DESCRIPTION, ErasureReport
from storage.sqlite.connection import Connection
from storage.sqlite.times import to_db_time

__all__ = ["SqlitePrivacyStore"]

_OPEN = tuple(sorted(status.value for status in OPEN_STATUSES))
_CLOSED = (Status.DONE.value, Status.REJECTED.value)
# An outbox message that tells the resident what happened to their request is still owed to
# them and carries nothing they gave us (numbers, statuses, staff's words): it is delivered.
_OWED_KIND = "status"
_ERASED_MARK = "erased"


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


def _key_range(prefix: str) -> tuple[str, str]:
    """``[prefix, prefix')`` where prefix' ends in the next character: a range on the index."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SqlitePrivacyStore:
    """``PrivacyStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _column(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with self._db.execute(sql, params) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def _change(self, sql: str, params: Sequence[Any]) -> int:
        cursor = await self._db.execute(sql, params)
        return max(cursor.rowcount, 0)

    async def open_requests(self, resident_id: int) -> list[int]:
        return await self._column(
            f"SELECT id FROM requests WHERE resident_id = ? AND status IN ({_marks(len(_OPEN))})"  # noqa: S608 - only '?' interpolated
            " ORDER BY id",
            (resident_id, *_OPEN),
        )

    async def erase_resident(self, resident_id: int, *, now: datetime) -> ErasureReport:
        async with self._db.execute(
            "SELECT channel, user_id FROM residents WHERE id = ?", (resident_id,)
        ) as cursor:
            found = await cursor.fetchone()
        if found is None:
            return ErasureReport()
        chat = (str(found[0]), str(found[1]))
        stamp = to_db_time(now)
        kept = await self.open_requests(resident_id)
        everything = await self._column(
            "SELECT id FROM requests WHERE resident_id = ? ORDER BY id", (resident_id,)
        )
        closed = [request_id for request_id in everything if request_id not in set(kept)]
        erased = await self._erase_requests(closed, stamp)
        if kept:
            # Marked now, erased by ``finish_closed`` when the executor closes them.
            await self._db.execute(
                f"UPDATE requests SET erased_at = COALESCE(erased_at, ?) WHERE id IN ({_marks(len(kept))})",  # noqa: S608, E501
                (stamp, *kept),
            )
        sessions = await self._column(
            "SELECT id FROM relay_sessions WHERE resident_id = ?", (resident_id,)
        )
        sessions_closed = await self._change(
            "UPDATE relay_sessions SET status = 'closed', closed_at = ?, closed_by = 'resident',"
            " outcome = ? WHERE resident_id = ? AND status = 'open'",
            (stamp, _ERASED_MARK, resident_id),
        )
        relay_messages = 0
        if sessions:
            relay_messages = await self._change(
                "UPDATE relay_messages SET text = NULL, photo_ref = NULL"  # noqa: S608
                f" WHERE session_id IN ({_marks(len(sessions))})"
                " AND (text IS NOT NULL OR photo_ref IS NOT NULL)",
                sessions,
            )
        consultations = await self._change(
            "UPDATE consultations SET question = NULL"
            " WHERE resident_id = ? AND question IS NOT NULL",
            (resident_id,),
        )
        suggestions = await self._change(
            "UPDATE consultation_suggestions SET question = NULL"
            " WHERE resident_id = ? AND question IS NOT NULL",
            (resident_id,),
        )
        await self._db.execute(
            "UPDATE residents SET display_name = NULL, consent_personal_data = 0,"
            " consent_at = NULL WHERE id = ?",
            (resident_id,),
        )
        await self._db.execute(
            "UPDATE conversation_states SET step = 'idle', data = '{}', updated_at = ?"
            " WHERE resident_id = ?",
            (stamp, resident_id),
        )
        kept_followups = await self._followups_of(kept)
        scrubbed, cancelled = await self._scrub_outbox(
            chat=chat,
            resident_id=resident_id,
            erase_prefixes=[
                *self._request_prefixes(closed),
                *(f"relay:{session}:" for session in sessions),
                *(f"fu:{followup}:" for followup in await self._followups_of(closed)),
            ],
            keep_prefixes=[
                *self._request_prefixes(kept),
                *(f"fu:{followup}:" for followup in kept_followups),
            ],
        )
        return ErasureReport(
            requests_erased=len(closed),
            kept_open=tuple(kept),
            photos=erased.photos,
            history_notes=erased.history_notes,
            relay_messages=relay_messages,
            relay_sessions_closed=sessions_closed,
            followups=erased.followups,
            consultations=consultations,
            suggestions=suggestions,
            outbox_scrubbed=scrubbed,
            outbox_cancelled=cancelled,
        )

    async def finish_closed(self, request_id: int, *, now: datetime) -> bool:
        async with self._db.execute(
            "SELECT r.resident_id, s.channel, s.user_id FROM requests AS r"  # noqa: S608
            " JOIN residents AS s ON s.id = r.resident_id"
            f" WHERE r.id = ? AND r.erased_at IS NOT NULL AND r.status IN ({_marks(len(_CLOSED))})",
            (request_id, *_CLOSED),
        ) as cursor:
            found = await cursor.fetchone()
        if found is None:
            return False
        stamp = to_db_time(now)
        await self._erase_requests([request_id], stamp)
        await self._scrub_outbox(
            chat=None,
            resident_id=None,
            erase_prefixes=[
                *self._request_prefixes([request_id]),
                *(f"fu:{followup}:" for followup in await self._followups_of([request_id])),
            ],
            keep_prefixes=[],
            owed_chat=(str(found[1]), str(found[2])),
        )
        return True

    # -- pieces -------------------------------------------------------------------------------

    async def _followups_of(self, request_ids: Collection[int]) -> list[int]:
        if not request_ids:
            return []
        return await self._column(
            f"SELECT id FROM followups WHERE request_id IN ({_marks(len(request_ids))})",  # noqa: S608
            list(request_ids),
        )

    @staticmethod
    def _request_prefixes(request_ids: Iterable[int]) -> list[str]:
        return [f"{kind}:{request_id}:" for request_id in request_ids for kind in ("req", "dl")]

    async def _erase_requests(self, request_ids: Collection[int], stamp: str) -> ErasureReport:
        """Blank the personal fields of these requests, their photos, the resident's notes in
        their history and the follow-up comments and reasons about them."""
        if not request_ids:
            return ErasureReport()
        ids = list(request_ids)
        marks = _marks(len(ids))
        photos = await self._change(
            f"DELETE FROM request_photos WHERE request_id IN ({marks})",  # noqa: S608
            ids,
        )
        await self._db.execute(
            "UPDATE requests SET address = NULL, latitude = NULL, longitude = NULL,"  # noqa: S608
            " phone = NULL, description = ?, erased_at = COALESCE(erased_at, ?)"
            f" WHERE id IN ({marks})",
            (ERASED_DESCRIPTION, stamp, *ids),
        )
        notes = await self._change(
            "UPDATE request_history SET note = NULL, actor_name = NULL"  # noqa: S608
            f" WHERE request_id IN ({marks}) AND actor_kind = ?"
            " AND (note IS NOT NULL OR actor_name IS NOT NULL)",
            (*ids, ActorKind.RESIDENT.value),
        )
        followups = await self._change(
            "UPDATE followups SET comment = NULL, reason = NULL"  # noqa: S608
            f" WHERE request_id IN ({marks}) AND (comment IS NOT NULL OR reason IS NOT NULL)",
            ids,
        )
        return ErasureReport(photos=photos, history_notes=notes, followups=followups)

    async def _scrub_outbox(
        self,
        *,
        chat: tuple[str, str] | None,
        resident_id: int | None,
        erase_prefixes: Sequence[str],
        keep_prefixes: Sequence[str],
        owed_chat: tuple[str, str] | None = None,
    ) -> tuple[int, int]:
        """Blank the bodies of outbox rows about the resident; cancel those still waiting,
        except status updates owed to the resident. Returns (scrubbed, cancelled)."""
        owed_chat = owed_chat or chat
        rows: dict[int, Any] = {}
        select = "SELECT id, idempotency_key, channel, chat_id, kind, status, body FROM outbox"
        queries: list[tuple[str, tuple[Any, ...]]] = []
        if resident_id is not None:
            queries.append((f"{select} WHERE resident_id = ?", (resident_id,)))
        if chat is not None:
            queries.append((f"{select} WHERE channel = ? AND chat_id = ?", chat))
        for prefix in erase_prefixes:
            queries.append(
                (f"{select} WHERE idempotency_key >= ? AND idempotency_key < ?", _key_range(prefix))
            )
        for sql, params in queries:
            async with self._db.execute(sql, params) as cursor:
                for row in await cursor.fetchall():
                    rows[row["id"]] = row
        scrubbed = cancelled = 0
        for row in rows.values():
            key = str(row["idempotency_key"])
            if any(key.startswith(prefix) for prefix in keep_prefixes):
                continue
            waiting = row["status"] in ("pending", "sending")
            to_owner = owed_chat is not None and (row["channel"], row["chat_id"]) == owed_chat
            if waiting and to_owner and row["kind"] == _OWED_KIND:
                continue
            if row["status"] in ("pending", "dead"):
                await self._db.execute(
                    "UPDATE outbox SET status = 'cancelled', last_error = ?, body = ? WHERE id = ?",
                    (_ERASED_MARK, ERASED_BODY, row["id"]),
                )
                cancelled += 1
                scrubbed += 1
            elif row["body"] != ERASED_BODY:
                # Sent, cancelled, or being sent right now (the worker holds its own copy).
                await self._db.execute(
                    "UPDATE outbox SET body = ? WHERE id = ?", (ERASED_BODY, row["id"])
                )
                scrubbed += 1
        return scrubbed, cancelled
