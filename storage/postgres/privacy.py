"""Erasure of a resident's personal data across the PostgreSQL tables (policy: ``storage.privacy``).

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
from storage.postgres.connection import Connection, change, fetch_all, fetch_one
from storage.privacy import ERASED_BODY, ERASED_DESCRIPTION, ErasureReport

__all__ = ["PostgresPrivacyStore"]

_OPEN = sorted(status.value for status in OPEN_STATUSES)
_CLOSED = [Status.DONE.value, Status.REJECTED.value]
# An outbox message that tells the resident what happened to their request is still owed to
# them and carries nothing they gave us (numbers, statuses, staff's words): it is delivered.
_OWED_KIND = "status"
_ERASED_MARK = "erased"


def _key_range(prefix: str) -> tuple[str, str]:
    """``[prefix, prefix')`` where prefix' ends in the next character: a range on the index."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


class PostgresPrivacyStore:
    """``PrivacyStore`` over the transaction's connection."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    async def _ids(self, sql: str, params: Sequence[Any]) -> list[int]:
        """The ``id`` column of a query's rows."""
        return [int(row["id"]) for row in await fetch_all(self._db, sql, params)]

    async def _change(self, sql: str, params: Sequence[Any]) -> int:
        return await change(self._db, sql, params)

    async def open_requests(self, resident_id: int) -> list[int]:
        return await self._ids(
            "SELECT id FROM requests WHERE resident_id = %s AND status = ANY(%s) ORDER BY id",
            (resident_id, _OPEN),
        )

    async def erase_resident(self, resident_id: int, *, now: datetime) -> ErasureReport:
        found = await fetch_one(
            self._db, "SELECT channel, user_id FROM residents WHERE id = %s", (resident_id,)
        )
        if found is None:
            return ErasureReport()
        chat = (str(found["channel"]), str(found["user_id"]))
        stamp = now
        kept = await self.open_requests(resident_id)
        everything = await self._ids(
            "SELECT id FROM requests WHERE resident_id = %s ORDER BY id", (resident_id,)
        )
        closed = [request_id for request_id in everything if request_id not in set(kept)]
        erased = await self._erase_requests(closed, stamp)
        if kept:
            # Marked now, erased by ``finish_closed`` when the executor closes them.
            await self._change(
                "UPDATE requests SET erased_at = COALESCE(erased_at, %s) WHERE id = ANY(%s)",
                (stamp, kept),
            )
        sessions = await self._ids(
            "SELECT id FROM relay_sessions WHERE resident_id = %s", (resident_id,)
        )
        sessions_closed = await self._change(
            "UPDATE relay_sessions SET status = 'closed', closed_at = %s, closed_by = 'resident',"
            " outcome = %s WHERE resident_id = %s AND status = 'open'",
            (stamp, _ERASED_MARK, resident_id),
        )
        relay_messages = 0
        if sessions:
            relay_messages = await self._change(
                "UPDATE relay_messages SET text = NULL, photo_ref = NULL"
                " WHERE session_id = ANY(%s) AND (text IS NOT NULL OR photo_ref IS NOT NULL)",
                (sessions,),
            )
        consultations = await self._change(
            "UPDATE consultations SET question = NULL"
            " WHERE resident_id = %s AND question IS NOT NULL",
            (resident_id,),
        )
        suggestions = await self._change(
            "UPDATE consultation_suggestions SET question = NULL"
            " WHERE resident_id = %s AND question IS NOT NULL",
            (resident_id,),
        )
        await self._change(
            "UPDATE residents SET display_name = NULL, consent_personal_data = false,"
            " consent_at = NULL WHERE id = %s",
            (resident_id,),
        )
        await self._change(
            "UPDATE conversation_states SET step = 'idle', data = '{}', updated_at = %s"
            " WHERE resident_id = %s",
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
        found = await fetch_one(
            self._db,
            "SELECT r.resident_id, s.channel, s.user_id FROM requests AS r"
            " JOIN residents AS s ON s.id = r.resident_id"
            " WHERE r.id = %s AND r.erased_at IS NOT NULL AND r.status = ANY(%s)",
            (request_id, _CLOSED),
        )
        if found is None:
            return False
        stamp = now
        await self._erase_requests([request_id], stamp)
        await self._scrub_outbox(
            chat=None,
            resident_id=None,
            erase_prefixes=[
                *self._request_prefixes([request_id]),
                *(f"fu:{followup}:" for followup in await self._followups_of([request_id])),
            ],
            keep_prefixes=[],
            owed_chat=(str(found["channel"]), str(found["user_id"])),
        )
        return True

    # -- pieces -------------------------------------------------------------------------------

    async def _followups_of(self, request_ids: Collection[int]) -> list[int]:
        if not request_ids:
            return []
        return await self._ids(
            "SELECT id FROM followups WHERE request_id = ANY(%s)",
            (list(request_ids),),
        )

    @staticmethod
    def _request_prefixes(request_ids: Iterable[int]) -> list[str]:
        return [f"{kind}:{request_id}:" for request_id in request_ids for kind in ("req", "dl")]

    async def _erase_requests(self, request_ids: Collection[int], stamp: datetime) -> ErasureReport:
        """Blank the personal fields of these requests, their photos, the resident's notes in
        their history and the follow-up comments and reasons about them."""
        if not request_ids:
            return ErasureReport()
        ids = list(request_ids)
        photos = await self._change("DELETE FROM request_photos WHERE request_id = ANY(%s)", (ids,))
        await self._change(
            "UPDATE requests SET address = NULL, latitude = NULL, longitude = NULL,"
            " phone = NULL, description = %s, erased_at = COALESCE(erased_at, %s)"
            " WHERE id = ANY(%s)",
            (ERASED_DESCRIPTION, stamp, ids),
        )
        notes = await self._change(
            "UPDATE request_history SET note = NULL, actor_name = NULL"
            " WHERE request_id = ANY(%s) AND actor_kind = %s"
            " AND (note IS NOT NULL OR actor_name IS NOT NULL)",
            (ids, ActorKind.RESIDENT.value),
        )
        followups = await self._change(
            "UPDATE followups SET comment = NULL, reason = NULL"
            " WHERE request_id = ANY(%s) AND (comment IS NOT NULL OR reason IS NOT NULL)",
            (ids,),
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
            queries.append((f"{select} WHERE resident_id = %s", (resident_id,)))
        if chat is not None:
            queries.append((f"{select} WHERE channel = %s AND chat_id = %s", chat))
        for prefix in erase_prefixes:
            # idempotency_key is COLLATE "C" (migration 0002): byte order, as the range needs.
            queries.append(
                (
                    f"{select} WHERE idempotency_key >= %s AND idempotency_key < %s",
                    _key_range(prefix),
                )
            )
        for sql, params in queries:
            for row in await fetch_all(self._db, sql, params):
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
                await self._change(
                    "UPDATE outbox SET status = 'cancelled', last_error = %s, body = %s"
                    " WHERE id = %s",
                    (_ERASED_MARK, ERASED_BODY, row["id"]),
                )
                cancelled += 1
                scrubbed += 1
            elif row["body"] != ERASED_BODY:
                # Sent, cancelled, or being sent right now (the worker holds its own copy).
                await self._change(
                    "UPDATE outbox SET body = %s WHERE id = %s", (ERASED_BODY, row["id"])
                )
                scrubbed += 1
        return scrubbed, cancelled
