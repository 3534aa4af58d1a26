"""Enqueuing what the bot says first, inside the caller's transaction (invariant 2)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.identity import UserRef
from handlers.messages import Reply
from notifications.codec import encode_replies
from storage.base import StoreSession
from storage.outbox import NewOutboxMessage


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
    escalations to staff are).
    """
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
