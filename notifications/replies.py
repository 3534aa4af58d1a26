"""Replies to residents' messages: committed with the update, sent right after it is acknowledged.

The platforms never deliver again what they got HTTP 200 for (Telegram, Viber), so an update is
acknowledged only once it is safe: the conversation processes it and commits its state, its
update key and a copy of its replies (an outbox row, kind ``reply``, already SENDING) in one
transaction (:func:`keep_replies`), and only then does the webhook answer 200. The replies go
out at once from here, through the conversation's own channel (it waits out a 429 inline; the
delivery worker's paced channel would hold a reply behind notifications and the global rate).

What can happen to a reply:

* sent: its row is marked SENT (many rows in one transaction when replies finish together);
* the platform refused it for now (429 for long, 5xx, a timeout, blocked): the row goes back to
  PENDING with the parts already sent recorded, and the delivery worker takes it from there
  with its retries, backoff, dead letters and blocked-resident handling;
* the process died first: the row is still SENDING, leased to this process; once the lease
  runs out (``OUTBOX_LEASE_SECONDS``) the delivery worker, of this deployment's elected
  instance, sends it (a reply the platform had already accepted is then sent twice: the same
  "at most the messages in flight" bound as every outbox message, invariant 2). While a reply
  is being sent (a long 429 waited out inline) its lease is renewed.

Replies stay with the instance that took the update: they are the answer to it, sent at once,
and not part of the one elected delivery worker.

Why a row and not an inbox of raw updates processed after the 200: measured with
``python -m bench --only webhook``, the row adds one INSERT to a transaction the update needs
anyway and a grouped UPDATE, while an inbox would add a commit before the 200 and a second
pass over every update; see the README's webhook figures.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from domain.channel import Channel, DeliveryError, RetryAfter
from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.messages import Handled, Incoming, Reply
from domain.metrics import NO_METRICS, Metrics
from services.codec import encode_replies
from services.outbox import outbox_key
from storage.base import Storage, StoreSession
from storage.outbox import NewOutboxMessage

__all__ = ["REPLY_KIND", "ReplySender", "keep_replies"]

logger = logging.getLogger(__name__)

REPLY_KIND = "reply"
FIRST_RETRY = 5.0  # seconds before the worker tries a reply the platform refused for now
CLOSE_GRACE = 10.0


async def keep_replies(
    session: StoreSession,
    incoming: Incoming,
    replies: list[Reply],
    resident_id: int,
    now: datetime,
) -> int | None:
    """The conversation's ``keep_replies``: the replies as an outbox row in SENDING, keyed by
    the update (a redelivered update never gets here: its key is found first)."""
    if incoming.update_key is None:
        return None
    return await session.outbox.enqueue_claimed(
        NewOutboxMessage(
            idempotency_key=outbox_key(REPLY_KIND, incoming.update_key),
            chat=incoming.user,
            kind=REPLY_KIND,
            body=encode_replies(replies),
            not_before=now,
            resident_id=resident_id,
            # An answer the resident is waiting for: never held back by quiet hours when the
            # worker has to retry it.
            urgent=True,
        ),
        now=now,
    )


class ReplySender:
    """Sends handled updates' replies in the background and records the outcome."""

    def __init__(
        self,
        storage: Storage,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        *,
        first_retry: float = FIRST_RETRY,
        rand: random.Random | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.storage = storage
        self.metrics = metrics
        self.channels = dict(channels)
        self.clock = clock
        self.first_retry = first_retry
        self._rand = rand or random.Random()  # noqa: S311 - jitter, not a secret
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent: list[tuple[int, list[str]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # The kept rows being sent, whose leases are renewed a few times per lease.
        self._held: set[int] = set()
        self._renewer: asyncio.Task[None] | None = None
        self.lease_interval = max(0.2, min(storage.outbox_lease.seconds / 4, 15.0))
        self.sent = 0
        self.returned = 0

    @property
    def pending(self) -> int:
        """Replies being sent now."""
        return len(self._tasks)

    def add_channel(self, name: ChannelName, channel: Channel) -> None:
        self.channels[name] = channel

    def send(self, user: UserRef, handled: Handled) -> None:
        """Start sending ``handled.replies`` to ``user``; returns at once."""
        if not handled.replies:
            return
        task = asyncio.create_task(self._send(user, handled), name="reply")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        kept = handled.kept_id
        if kept is not None:
            self._held.add(kept)
            task.add_done_callback(lambda _: self._held.discard(kept))
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.create_task(self._renew(), name="reply-leases")

    async def _renew(self) -> None:
        """Renew the leases of the replies being sent while there are any."""
        while self._held:
            await asyncio.sleep(self.lease_interval)
            ids = set(self._held)
            if not ids:
                break
            try:
                async with self.storage.transaction() as session:
                    await session.outbox.renew_leases(ids, now=self.clock.now())
            except Exception:
                # The next pass tries again; a lease is several passes long.
                logger.exception("could not renew the leases of %d replies", len(ids))

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Let the replies in flight finish for ``grace`` seconds; what is cut off stays
        SENDING with its lease ended, and the delivery worker sends it (maybe twice: it may
        have reached the platform)."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            cut_off = set(self._held)  # the kept rows of the replies still being sent
            for task in late:
                task.cancel()
            if late:
                logger.warning("%d replies cut off at shutdown; the worker sends them", len(late))
                await asyncio.gather(*late, return_exceptions=True)
                await self._expire(cut_off)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self._flusher is not None:
            await self._flusher

    async def _expire(self, kept_ids: set[int]) -> None:
        """End the leases of replies cut off mid-send: the delivery worker (this deployment's
        leader) sends them at once instead of after the lease."""
        if not kept_ids:
            return
        try:
            async with self.storage.transaction() as session:
                await session.outbox.expire_leases(kept_ids, now=self.clock.now())
        except Exception:
            # They stay leased: sent once the lease runs out.
            logger.exception("could not give %d cut-off replies back", len(kept_ids))

    async def _send(self, user: UserRef, handled: Handled) -> None:
        channel = self.channels.get(user.channel)
        if channel is None:
            logger.error("no %s channel for a reply", user.channel)
            return
        sent_ids: list[str] = []
        done = 0
        try:
            for reply in handled.replies:
                sent = await channel.send(user, [reply])
                sent_ids.extend(item.message_id for item in sent)
                done += 1
        except DeliveryError as error:
            logger.warning("reply to %s not delivered now: %s", user.channel, type(error).__name__)
            outcome = "rate_limited" if isinstance(error, RetryAfter) else "retried"
            self.metrics.delivery(user.channel.value, outcome)
            if handled.kept_id is not None:
                await self._give_back(handled.kept_id, done, sent_ids, error)
            return
        except Exception:
            # A reply the adapter cannot render fails the same way in the worker: it gets there
            # a bounded number of tries and becomes a dead letter staff can see.
            logger.exception("reply to %s could not be sent", user.channel)
            self.metrics.delivery(user.channel.value, "error")
            if handled.kept_id is not None:
                await self._give_back(handled.kept_id, done, sent_ids, None)
            return
        self.metrics.delivery(user.channel.value, "sent")
        if handled.kept_id is not None:
            await self._mark_sent(handled.kept_id, sent_ids)

    async def _give_back(
        self, kept_id: int, done: int, sent_ids: Sequence[str], error: DeliveryError | None
    ) -> None:
        """Hand the reply to the delivery worker, after the parts the platform accepted."""
        delay = error.seconds if isinstance(error, RetryAfter) else self.first_retry
        delay *= 1 + self._rand.random() / 2
        now = self.clock.now()
        reason = type(error).__name__ if error is not None else "could not be sent"
        try:
            async with self.storage.transaction() as session:
                await session.outbox.record_progress(
                    kept_id, parts_sent=done, sent_ids=list(sent_ids)
                )
                await session.outbox.reschedule(
                    kept_id,
                    not_before=now + timedelta(seconds=delay),
                    error=f"reply: {reason}",
                    count_attempt=not isinstance(error, RetryAfter),
                )
            self.returned += 1
        except Exception:
            # Left SENDING: the worker's recovery sends it at the next start.
            logger.exception("reply %s could not be handed to the delivery worker", kept_id)

    async def _mark_sent(self, kept_id: int, sent_ids: list[str]) -> None:
        """Group commit: replies that finish while a commit runs go into the next one."""
        self._sent.append((kept_id, sent_ids))
        self.sent += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="reply-sent")

    async def _flush(self) -> None:
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                async with self.storage.transaction() as session:
                    await session.outbox.mark_sent_many(batch, now=self.clock.now())
            except Exception:
                # Left SENDING: sent again after a restart (at most these repeat).
                logger.exception("could not record %d sent replies", len(batch))
