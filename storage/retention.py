"""The retention contract: what grows old is removed, what the statistics count is kept.

``RETENTION_DAYS`` bounds how long the bot keeps what it needs only for a while (DESIGN.md
invariant 6). Every method runs inside the caller's transaction (``StoreSession.retention``)
and handles at most ``limit`` rows, so a job can go through a large backlog in short
transactions. What goes and what stays:

* **Outbox bodies** of finished messages (sent, cancelled, dead) created before the limit are
  replaced by the erased marker (``storage.privacy.ERASED_BODY``). The rows stay with their
  status, idempotency key, kind, chat and dates: the ``/outbox`` counts and the rate-limiter's
  history read those, and a kept key still stops a repeated cause from sending twice. A dead
  message without its body can never be retried, so it becomes cancelled (the ``/outbox`` total
  is unchanged; the dead list keeps only what a retry can still deliver). Pending and sending
  messages are owed and are never touched.
* **Conversation state** not changed since the limit is deleted (the resident starts from the
  menu, as a new one does), except while the resident has an operator conversation open: an
  operator may still answer it.
* **Kept photos** (``MEDIA_DIR``) that nothing refers to any more (no request photo, relay
  message, outbox body or conversation state names them: a request erased by ``/forget`` or
  a draft forgotten) are deleted by the retention job, which asks ``media_in_use``.
* **Processed update keys** are pruned by ``UpdateStore.prune`` (never younger than the
  platforms' redelivery horizon: see ``notifications.maintenance``).

The statistics (``StatsStore``) read requests, their history, follow-ups, consultations and the
monthly bill of messages the bot started, none of which is touched here, so every figure
stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

__all__ = ["RetentionStore"]


class RetentionStore(Protocol):
    """Removal of old, no longer needed data (see the module doc for what stays)."""

    async def forget_outbox_bodies(self, *, before: datetime, limit: int) -> int:
        """Blank the bodies of up to ``limit`` finished outbox messages created before
        ``before`` (oldest first); a dead one becomes cancelled. Returns how many."""
        ...

    async def forget_conversations(self, *, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` conversation states last changed before ``before`` (oldest
        first), except those of residents with an open operator conversation."""
        ...

    async def media_in_use(self, refs: Sequence[str]) -> set[str]:
        """Which of these ``media:`` references a request photo, a relay message, an outbox
        body or a conversation state (a draft) still names."""
        ...
