"""Handing a relay session's pending messages to the outbox once their place is known.

A message whose place in the staff chat is not known yet (a forum topic to create: a Bot API
call, impossible inside the resident's transaction) stays *pending*; ``RelayForwarder`` asks the
``RelayDesk`` for the place after the commit, in transactions of its own, and its ``sweep``
forwards whatever a crash or a platform error left pending.
"""

from __future__ import annotations

import logging
from typing import Protocol

from domain.clock import Clock
from domain.identity import UserRef
from services.relay import RelayService
from storage.base import Resident, Storage
from storage.relay import RelaySession

__all__ = ["RelayDesk", "RelayForwarder"]

logger = logging.getLogger(__name__)


class RelayDesk(Protocol):
    """Where a session's messages go in the staff chat (the Telegram side creates forum topics).

    Returns ``None`` when there is no staff chat to send to; may raise on platform trouble.
    """

    async def destination(self, relay: RelaySession, resident: Resident) -> UserRef | None: ...


class RelayForwarder:
    """Hands pending resident messages to the outbox once their place in the staff chat is
    known; runs after the resident's commit and, as ``sweep``, after a restart."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        service: RelayService,
        desk: RelayDesk | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.service = service
        # Set once the messenger is up (the conversation is built before it); until then
        # messages wait as pending.
        self.desk = desk

    async def forward(self, relay_id: int) -> int:
        async with self.storage.transaction() as session:
            relay = await session.relay.get(relay_id)
            if relay is None or not await session.relay.pending(relay_id):
                return 0
            resident = await session.residents.get_by_id(relay.resident_id)
        if resident is None:
            return 0
        # Outside any transaction: may call the platform (create a forum topic).
        destination = relay.staff_chat
        if destination is None and self.desk is not None:
            destination = await self.desk.destination(relay, resident)
        if destination is None:
            return 0
        async with self.storage.transaction() as session:
            return await self.service.forward(session, relay_id, destination, now=self.clock.now())

    async def forward_quietly(self, relay_id: int) -> None:
        """``forward`` for after-commit hooks: the resident's message is already safe, so a
        failure here is logged and left to ``sweep``."""
        try:
            await self.forward(relay_id)
        except Exception:
            logger.exception("relay %s: forwarding failed; the sweep will retry", relay_id)

    async def sweep(self, *, limit: int = 100) -> int:
        """Forward whatever is still pending (after a crash or a platform error)."""
        async with self.storage.transaction() as session:
            relay_ids = await session.relay.sessions_with_pending(limit=limit)
        forwarded = 0
        for relay_id in relay_ids:
            try:
                forwarded += await self.forward(relay_id)
            except Exception:
                logger.exception("relay %s: forwarding failed in the sweep", relay_id)
        return forwarded
