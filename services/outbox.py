"""Enqueuing what the bot says first, inside the caller's transaction (invariant 2), and the
idempotency keys of what is enqueued.

Every outbox key is built by ``outbox_key``: colon-separated parts, the first naming what the
message is about, e.g. ``req:<request id>:status:<history id>``, ``relay:<session id>:in:<message
id>``, ``fu:<follow-up id>:ask``, ``dl:<request id>:<kind>:<deadline>:staff``,
``digest:<local date>``, ``reply:<update key>``. The strings are stored in existing databases
(a repeated key adds nothing), so a key once shipped never changes shape;
``storage.sqlite.relay`` reads the session id back from ``relay:<session id>:...``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from domain.channel import Sent
from domain.identity import UserRef
from domain.messages import Reply
from services.codec import encode_edit, encode_replies
from storage.base import StoreSession
from storage.outbox import NewOutboxMessage

__all__ = ["enqueue", "enqueue_edit", "outbox_key"]

logger = logging.getLogger(__name__)


def outbox_key(subject: str, *parts: object) -> str:
    """The idempotency key ``subject:part:part...`` (each part as ``str`` gives it)."""
    return ":".join((subject, *(str(part) for part in parts)))


async def enqueue(
    session: StoreSession,
    *,
    key: str,
    chat: UserRef,
    replies: Sequence[Reply],
    kind: str,
    now: datetime,
    not_before: datetime | None = None,
    resident_id: int | None = None,
    urgent: bool = False,
) -> bool:
    """Queue ``replies`` for ``chat`` in the open transaction; a repeated ``key`` adds nothing.

    ``urgent`` messages ignore quiet hours (status changes a resident waits for are not urgent;
    escalations to staff are). Nothing is queued for a resident who blocked the bot (the
    channel told us with a 403): False, as for a repeated key. The resident is the one named by
    ``resident_id``, else the one whose private chat ``chat`` is.
    """
    resident = (
        await session.residents.get_by_id(resident_id)
        if resident_id is not None
        else await session.residents.get(chat)
    )
    if resident is not None and resident.blocked:
        logger.info("not queued: resident %s blocked the bot (%s)", resident.id, kind)
        return False
    return await session.outbox.enqueue(
        NewOutboxMessage(
            idempotency_key=key,
            chat=chat,
            kind=kind,
            body=encode_replies(replies),
            not_before=not_before or now,
            resident_id=resident_id,
            urgent=urgent,
        ),
        now=now,
    )


async def enqueue_edit(
    session: StoreSession,
    *,
    key: str,
    chat: UserRef,
    message: Sent,
    reply: Reply,
    kind: str,
    now: datetime,
) -> bool:
    """Queue an edit of ``message`` (sent to ``chat`` before) into ``reply``, urgent (an edit
    is not a new message to wake anyone with), in the open transaction; a repeated ``key``
    adds nothing. The delivery worker sends it through the channel's ``MessageEditor``."""
    return await session.outbox.enqueue(
        NewOutboxMessage(
            idempotency_key=key,
            chat=chat,
            kind=kind,
            body=encode_edit(message, reply),
            not_before=now,
            urgent=True,
        ),
        now=now,
    )
