"""Every copy of a request's card stays true: whoever changes the request, each card message
already delivered is edited.

A card goes out through the outbox (kind ``"card"``, keys ``req:<id>:card:...``) to the staff
chat, an executor's own chat or the console's staff pane. When the delivery worker marks such
a row sent it calls ``remember``: the message that carries the card (``Sent.main``) is kept in
``card_copies`` with its chat and whether it is a photo's caption (migration 0010 says why a
table of its own rather than the outbox's sent rows).

``CardCopies`` is a ``RequestObserver`` that every ``RequestService`` calls after its other
observers, so every path that writes a request's history (a status pressed in any chat, an
assignment, the deadline job's escalation, the resident's follow-up answer and rating, an
answer to "needs info", a back office calling ``change_status``, and whatever comes later
through the service) queues, in the same transaction as the change, one edit per known copy
(kind ``"card_edit"``, key ``req:<id>:card_edit:<history id>:<copy id>``). The worker sends it
through the channel's ``domain.channel.MessageEditor``: retried, rate-limited and in order with
the chat's other messages, like anything else in the outbox. A copy that can no longer be
edited (deleted, too old) is replaced by a fresh card (``replace``), once. A card row not sent yet
when the request changes is rewritten to show the change (the worker sends it as it is now).
"""

from __future__ import annotations

import logging
from datetime import datetime

from domain.channel import Sent
from domain.identity import UserRef
from domain.requests import Request, StatusChange
from services.codec import encode_replies
from services.outbox import enqueue_edit, outbox_key
from services.request_announcements import RequestAnnouncer
from storage.base import StoreSession

__all__ = [
    "CARD_EDIT_KIND",
    "CARD_KIND",
    "CardCopies",
    "card_request_id",
    "remember",
    "replace",
]

logger = logging.getLogger(__name__)

CARD_KIND = "card"
CARD_EDIT_KIND = "card_edit"


def card_request_id(key: str) -> int | None:
    """The request a card's or a card edit's outbox key is about (``req:<id>:card...``)."""
    parts = key.split(":")
    if len(parts) >= 3 and parts[0] == "req" and parts[2] in {"card", "card_edit"}:
        return int(parts[1]) if parts[1].isdigit() else None
    return None


def card_message(sent: list[Sent]) -> Sent | None:
    """Of the platform messages one card became, the one that carries it (title and buttons)."""
    return next((item for item in sent if item.main), sent[0] if sent else None)


async def remember(
    session: StoreSession, *, kind: str, key: str, chat: UserRef, sent: list[Sent], now: datetime
) -> None:
    """A card row's first reply (the card) was delivered as ``sent``: keep its message."""
    request_id = card_request_id(key) if kind == CARD_KIND else None
    message = card_message(sent)
    if request_id is None or message is None:
        return
    await session.card_copies.add(
        request_id, chat, message.message_id, caption=message.caption, now=now
    )


async def replace(
    session: StoreSession, *, key: str, chat: UserRef, old: Sent, new: list[Sent], now: datetime
) -> None:
    """An edit found its message gone and posted a fresh card instead: edit that one next."""
    await session.card_copies.remove(chat, old.message_id)
    await remember(session, kind=CARD_KIND, key=key, chat=chat, sent=new, now=now)


class CardCopies:
    """Queues an edit of every known copy of a request's card after each change of it."""

    def __init__(self, announce: RequestAnnouncer) -> None:
        self.announce = announce

    async def request_changed(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None:
        # As stored now: an observer before this one may have changed it (erased it on closure).
        request = await session.requests.get(request.id) or request
        # A card still waiting in the outbox (its chat is rate-limited, say) goes out as the
        # request is now, not as it was when it was queued.
        unsent = await session.outbox.unsent_with_prefix(
            outbox_key("req", request.id, CARD_KIND) + ":"
        )
        copies = await session.card_copies.for_request(request.id)
        if not unsent and not copies:
            return
        history = await session.requests.history(request.id)
        for row in unsent:
            replies = self.announce.card_replies(request, history, row.chat)
            await session.outbox.rewrite(row.id, body=encode_replies(replies))
        now = self.announce.clock.now()
        for copy in copies:
            card = self.announce.render_card(request, history, shown_in=copy.chat.channel)
            await enqueue_edit(
                session,
                key=outbox_key("req", request.id, CARD_EDIT_KIND, change.id, copy.id),
                chat=copy.chat,
                message=Sent(copy.message_id, main=True, caption=copy.caption),
                reply=card,
                kind=CARD_EDIT_KIND,
                now=now,
            )
        logger.debug("request %s: %s card copies to edit", request.id, len(copies))
