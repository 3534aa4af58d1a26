"""The outbox delivery worker: sends what the bot owes people, within the platforms' limits.

One active worker per deployment (like the scheduler): with several instances on one
PostgreSQL database, the one elected by an advisory lock delivers, with fail-over
(``notifications.leader``); that keeps the platforms' rate limits (``notifications.limits``,
counted in this process) deployment-wide. Each message goes PENDING -> SENDING (committed
before the platform is called) -> SENT (committed as soon as the platform answers), or back to
PENDING for a retry, or to DEAD / CANCELLED.

Leases: a claim leases the message to this process for ``OUTBOX_LEASE_SECONDS``
(``storage.outbox.OutboxLease``), renewed while the send runs. Only a lease that ran out puts
a SENDING message back (its process died or lost the database): a restarting instance never
takes back what another live instance is sending, and the messages a dead instance left are
picked up by the running worker within a lease, not only at a start.

Delivery is at-least-once, and here is the honest limit of "nothing sent twice": the Bot API has
no idempotency key, so if the process dies after the platform accepted a reply and before our
commit of that fact, the reply is sent again after the restart. The window is kept small: the
SENT commit is the very next thing after the HTTP response, a message of several replies records
each accepted reply (a restart resumes after it), and no more than ``concurrency`` calls are in
flight at once — so a crash duplicates at most ``concurrency`` replies, and with
``concurrency=1`` at most one.

Order: a chat gets its messages in the order they were queued (an earlier message that is being
retried holds the later ones back); urgent messages may overtake non-urgent ones only while
quiet hours hold the non-urgent ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import TypeVar

from domain.channel import (
    Channel,
    DeliveryError,
    DeliveryPolicy,
    MessageEditor,
    MessageGone,
    PermanentFailure,
    Proactive,
    RecipientBlocked,
    RetryAfter,
    Sent,
)
from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.metrics import NO_METRICS, Metrics
from notifications.limits import ChatRateLimiter
from notifications.quiet import QuietHours
from services import card_copies
from services.codec import decode_edit, decode_replies
from storage.base import Storage, StoreSession
from storage.errors import StorageError
from storage.outbox import OutboxMessage

__all__ = [
    "DrainResult",
    "OutboxWorker",
    "Outcome",
    "RetryPolicy",
    "backoff_delay",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The last error of a message its channel's delivery policy holds back (counted once as held).
_HELD_MARK = "held by the channel's delivery policy"

# Two or more chats answered 429 within this many seconds: treat it as a flood of the whole bot.
_GLOBAL_FLOOD_WINDOW = 1.0
_GLOBAL_FLOOD_CHATS = 2


# Outcomes counted by ``Metrics.delivery``: sent, retried (a temporary failure, tried again
# later), rate_limited (a 429), dead_letter (given up), blocked (the chat refused the bot),
# error (an unexpected failure in the worker itself).
DEAD_LETTER = "dead_letter"


class Outcome(StrEnum):
    """What happened to one message in one delivery attempt."""

    SENT = "sent"
    # Back to pending: a 429, a temporary failure, or held by a channel's delivery policy.
    RETRY = "retry"
    DEAD = "dead"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # no longer pending when we came to it


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of temporary failures (``DELIVERY_MAX_ATTEMPTS``)."""

    max_attempts: int = 8
    backoff_base: float = 2.0  # seconds before the second attempt (before jitter)
    backoff_cap: float = 900.0


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Exponential backoff with "equal jitter": half of the step fixed, half random, so a burst
    of failures does not come back as a burst."""
    step = min(policy.backoff_cap, policy.backoff_base * 2.0 ** max(attempt - 1, 0))
    return step / 2 + rand() * step / 2


@dataclass
class DrainResult:
    """What one ``drain_once`` did."""

    outcomes: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    deferred: int = 0  # heads left for later because a limit held their chat back

    @property
    def sent(self) -> int:
        return self.outcomes[Outcome.SENT]

    @property
    def attempted(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome is not Outcome.SKIPPED)


@dataclass(frozen=True, slots=True)
class _Sent:
    """A delivered message waiting for the group commit."""

    channel: ChannelName
    message_id: int
    sent_ids: list[str]
    billed: int
    free: int
    # Written in the same commit (a delivered card's copy, see ``services.card_copies``).
    also: Callable[[StoreSession], Awaitable[None]] | None = None


class OutboxWorker:
    """Delivers the outbox through the channel adapters (see the module docstring).

    ``limiter`` is the same ``ChatRateLimiter`` the Telegram adapter's calls go through; the
    worker only asks it which chats may be sent to *now* and skips the others, so one slow chat
    never holds up the rest. ``clock`` decides what is due (quiet hours, backoff); the limiter
    counts real seconds.
    """

    def __init__(
        self,
        storage: Storage,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        *,
        limiter: ChatRateLimiter | None = None,
        quiet_hours: QuietHours | None = None,
        retry: RetryPolicy | None = None,
        policies: Mapping[ChannelName, DeliveryPolicy] | None = None,
        concurrency: int = 16,
        batch: int = 500,
        poll_interval: float = 0.5,
        refresh_interval: float = 0.2,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.storage = storage
        self.metrics = metrics
        self.channels = dict(channels)
        self.clock = clock
        self.limiter = limiter
        self.quiet_hours = quiet_hours
        self.retry = retry or RetryPolicy()
        # Per channel: which messages the bot starts are sent, when, at what cost.
        self.policies = dict(policies or {})
        self.concurrency = concurrency
        self.batch = batch
        self.poll_interval = poll_interval
        self.refresh_interval = refresh_interval
        self._rand = rand
        self._monotonic = monotonic
        self._busy: set[UserRef] = set()
        self._tasks: set[asyncio.Task[Outcome]] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._recent_429: deque[tuple[float, UserRef]] = deque()
        self.totals: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self._sent_batch: list[tuple[_Sent, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Leases: the ids being sent (renewed), and how often to renew them and to look for
        # expired leases: a few times per lease.
        self._in_flight: set[int] = set()
        lease = storage.outbox_lease.seconds
        self.lease_interval = max(0.2, min(lease / 4, 15.0))

    # -- running ---------------------------------------------------------------------------

    def notify(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the calls in flight and return from ``run``."""
        self._stop.set()
        self._wake.set()

    def reset(self) -> None:
        """Allow ``run`` again after a ``stop`` (a leader elected anew)."""
        self._stop.clear()

    async def recover(self) -> int:
        """Put back the messages whose lease ran out (a killed process left them in SENDING:
        they are sent again), and tell the limiter what was sent in the last minute."""
        now = self.clock.now()
        async with self.storage.transaction() as session:
            count = await session.outbox.release_expired(now=now)
            recent = []
            if self.limiter is not None:
                since = now - timedelta(seconds=self.limiter.memory)
                recent = await session.outbox.recently_sent(since=since)
        # The limits count the last minute, whoever sent in it: a restart must not start afresh.
        for chat, sent_at, calls in recent:
            assert self.limiter is not None
            self.limiter.note_past(chat, (now - sent_at).total_seconds(), calls)
        if count:
            logger.warning(
                "%s message(s) were left in flight (their lease ran out); sending them again",
                count,
            )
        return count

    async def reclaim_expired(self) -> int:
        """Put back SENDING messages whose lease ran out (a dead instance's), now."""
        async with self.storage.transaction() as session:
            count = await session.outbox.release_expired(now=self.clock.now())
        if count:
            logger.warning(
                "%s message(s) of a stopped sender were in flight (lease ran out); sending them"
                " again",
                count,
            )
            self._wake.set()
        return count

    async def renew_leases(self) -> set[int]:
        """Renew the leases of the messages this worker is sending; the ids still held."""
        ids = set(self._in_flight)
        if not ids:
            return set()
        async with self.storage.transaction() as session:
            held = await session.outbox.renew_leases(ids, now=self.clock.now())
        lost = ids - held - {i for i in ids if i not in self._in_flight}
        if lost:
            logger.warning("the lease of %d message(s) being sent ran out first", len(lost))
        return held

    async def _lease_upkeep(self) -> None:
        try:
            await self.renew_leases()
            await self.reclaim_expired()
        except Exception:
            # A loop boundary: the next pass tries again (a lease is several passes long).
            logger.exception("outbox lease upkeep failed; trying again shortly")

    async def run(self, *, recover: bool = True) -> None:
        """Deliver until ``stop()``; recovers in-flight messages first (unless the caller did,
        before it started taking updates). Cancelling the task instead of calling ``stop()``
        leaves the calls in flight to the next start."""
        if recover:
            await self.recover()
        heads: list[OutboxMessage] = []
        loaded = float("-inf")
        upkeep = self._monotonic()
        while not self._stop.is_set():
            self._wake.clear()
            timeout = self.poll_interval
            if self._monotonic() - upkeep >= self.lease_interval:
                upkeep = self._monotonic()
                await self._lease_upkeep()
            try:
                if not heads or self._monotonic() - loaded >= self.refresh_interval:
                    heads = await self._heads()
                    loaded = self._monotonic()
                chosen, hint = self._choose(heads)
                if chosen:
                    await self._start(chosen)
                if heads or chosen or self._tasks:
                    timeout = min(max(hint, 0.001), self.refresh_interval)
            except Exception:
                # A loop boundary: a database hiccup must not end delivery for good.
                logger.exception("outbox delivery pass failed; trying again shortly")
                heads = []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flushed()

    async def drain_once(self) -> DrainResult:
        """One pass for tests and tools: send every message that may go now, wait for them.

        Chats the limits hold back are left for a later pass (``deferred``)."""
        result = DrainResult()
        pending = await self._heads()
        started: list[asyncio.Task[Outcome]] = []
        while pending:
            while len(self._tasks) >= self.concurrency:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            chunk: list[OutboxMessage] = []
            while pending and len(chunk) < self.concurrency - len(self._tasks):
                message = pending.pop(0)
                if message.chat in self._busy or self._held_back(message.chat) > 0:
                    result.deferred += 1
                    continue
                self._busy.add(message.chat)
                chunk.append(message)
            tasks, settled = await self._start(chunk)
            started.extend(tasks)
            for outcome in settled:
                result.outcomes[outcome] += 1
        for outcome in await asyncio.gather(*started):
            result.outcomes[outcome] += 1
        await self._flushed()
        return result

    async def drain(self, *, max_passes: int = 1000) -> DrainResult:
        """Repeat ``drain_once`` until a pass attempts nothing (for tests with instant
        channels and no limiter; with a limiter use ``run``)."""
        total = DrainResult()
        for _ in range(max_passes):
            result = await self.drain_once()
            for outcome, count in result.outcomes.items():
                total.outcomes[outcome] += count
            total.deferred = result.deferred
            if result.attempted == 0:
                break
        return total

    # -- choosing what goes next --------------------------------------------------------------

    async def _heads(self) -> list[OutboxMessage]:
        now = self.clock.now()
        quiet = self.quiet_hours is not None and self.quiet_hours.is_quiet(now)
        async with self.storage.transaction() as session:
            return await session.outbox.heads(
                now=now, quiet=quiet, limit=self.batch, channels=self.channels.keys()
            )

    def _held_back(self, chat: UserRef) -> float:
        return self.limiter.delay(chat) if self.limiter is not None else 0.0

    def _choose(self, heads: list[OutboxMessage]) -> tuple[list[OutboxMessage], float]:
        """Take from ``heads`` every message whose chat may be sent to now, up to the free
        concurrency, marking their chats busy; keep the rest. Returns the chosen ones and how
        long until one of the rest may go."""
        chosen: list[OutboxMessage] = []
        hint = self.refresh_interval
        kept: list[OutboxMessage] = []
        capacity = self.concurrency - len(self._tasks)
        for index, message in enumerate(heads):
            if len(chosen) >= capacity:
                kept.extend(heads[index:])
                break
            if self.limiter is not None and (pause := self.limiter.global_delay()) > 0:
                kept.extend(heads[index:])
                hint = min(hint, pause)
                break
            if message.chat in self._busy:
                continue  # its earlier message is in flight; a later refresh brings this back
            wait = self._held_back(message.chat)
            if wait > 0:
                kept.append(message)
                hint = min(hint, wait)
                continue
            self._busy.add(message.chat)
            chosen.append(message)
        heads[:] = kept
        return chosen, hint

    async def _start(
        self, chosen: list[OutboxMessage]
    ) -> tuple[list[asyncio.Task[Outcome]], list[Outcome]]:
        """Claim ``chosen`` in one transaction and start a send for each claimed one; returns
        the tasks and the outcomes decided without sending (skipped, held, dropped)."""
        if not chosen:
            return [], []
        try:
            ready, settled = await self._claim(chosen)
        except BaseException:
            for message in chosen:
                self._busy.discard(message.chat)
            raise
        for message, outcome in settled:
            self._busy.discard(message.chat)
            self.totals[outcome] += 1
        tasks = [self._launch(message, decision) for message, decision in ready]
        return tasks, [outcome for _, outcome in settled]

    async def _claim(
        self, chosen: list[OutboxMessage]
    ) -> tuple[list[tuple[OutboxMessage, Proactive]], list[tuple[OutboxMessage, Outcome]]]:
        """PENDING -> SENDING for a batch, committed before any of them is sent. One
        transaction for many messages: a transaction each would queue every send behind the
        single SQLite writer."""
        now = self.clock.now()
        ready: list[tuple[OutboxMessage, Proactive]] = []
        settled: list[tuple[OutboxMessage, Outcome]] = []
        async with self.storage.transaction() as session:
            claimed = await session.outbox.claim_many([message.id for message in chosen], now=now)
            for message in chosen:
                chat = message.chat
                if message.id not in claimed:
                    settled.append((message, Outcome.SKIPPED))
                    continue
                if chat.channel not in self.channels:
                    await session.outbox.mark_dead(message.id, error=f"no {chat.channel} channel")
                    logger.error("outbox message %s: no %s channel", message.id, chat.channel)
                    session.after_commit(partial(self._count, message, DEAD_LETTER))
                    settled.append((message, Outcome.DEAD))
                    continue
                policy = self.policies.get(chat.channel)
                decision = Proactive.SEND
                if policy is not None:
                    decision = await self._policy_decision(policy, session, message, now)
                if decision is Proactive.HOLD:
                    assert policy is not None  # only a policy holds a message back
                    await session.outbox.reschedule(
                        message.id,
                        not_before=now + policy.recheck,
                        error=_HELD_MARK,
                        count_attempt=False,
                    )
                    settled.append((message, Outcome.RETRY))
                elif decision is Proactive.DROP:
                    reason = f"{chat.channel} delivery policy: not sent"
                    await session.outbox.cancel(message.id, reason=reason)
                    settled.append((message, Outcome.CANCELLED))
                else:
                    ready.append((message, decision))
        return ready, settled

    def _launch(self, message: OutboxMessage, decision: Proactive) -> asyncio.Task[Outcome]:
        task = asyncio.create_task(self._deliver(message, decision), name=f"outbox-{message.id}")
        self._tasks.add(task)
        self._in_flight.add(message.id)

        def done(finished: asyncio.Task[Outcome]) -> None:
            self._tasks.discard(finished)
            self._in_flight.discard(message.id)
            self._busy.discard(message.chat)
            if not finished.cancelled() and finished.exception() is None:
                self.totals[finished.result()] += 1
            self._wake.set()

        task.add_done_callback(done)
        return task

    # -- one message --------------------------------------------------------------------------

    async def _deliver(self, message: OutboxMessage, decision: Proactive) -> Outcome:
        try:
            return await self._send(message, decision)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A loop boundary: one bad message must not stop the others.
            logger.exception("delivery of outbox message %s failed unexpectedly", message.id)
            self._count(message, "error")
            return Outcome.RETRY

    async def _send(self, message: OutboxMessage, decision: Proactive) -> Outcome:
        """Send a claimed message, reply by reply, and record what happened."""
        if message.kind == card_copies.CARD_EDIT_KIND:
            return await self._edit(message)
        chat = message.chat
        channel = self.channels[chat.channel]
        try:
            replies = decode_replies(message.body)
        except (ValueError, KeyError, TypeError):
            logger.error("outbox message %s has an unreadable body", message.id)
            return await self._dead(message, "unreadable body")

        sent_ids = list(message.sent_ids)
        copy: Callable[[StoreSession], Awaitable[None]] | None = None
        try:
            for index in range(message.parts_sent, len(replies)):
                sent = await channel.send(chat, [replies[index]])
                sent_ids.extend(item.message_id for item in sent)
                if index == 0:
                    copy = self._card_copy(message, sent)
                if index < len(replies) - 1:
                    progress = self._progress(message.id, index + 1, list(sent_ids), copy)
                    copy = None
                    await self._commit(progress)
        except DeliveryError as error:
            return await self._on_failure(message, error)
        except Exception as error:
            # A bug in rendering (a reply the adapter cannot build) fails the same way forever.
            logger.exception("outbox message %s could not be rendered", message.id)
            return await self._dead(message, f"bug: {type(error).__name__}")

        billed = len(sent_ids) - len(message.sent_ids) if decision is Proactive.BILLED else 0
        policy = self.policies.get(chat.channel)
        free = 1 if policy is not None and policy.counts_cost and not billed else 0
        await self._mark_sent(_Sent(chat.channel, message.id, sent_ids, billed, free, copy))
        self._count(message, "sent")
        return Outcome.SENT

    async def _edit(self, message: OutboxMessage) -> Outcome:
        """Edit a message sent before (a card after a change of its request). A message that is
        gone or too old to edit is sent anew, and the fresh one is edited next time."""
        chat = message.chat
        channel = self.channels[chat.channel]
        try:
            target, reply = decode_edit(message.body)
        except (ValueError, KeyError, TypeError):
            logger.error("outbox message %s has an unreadable body", message.id)
            return await self._dead(message, "unreadable body")
        if not isinstance(channel, MessageEditor):
            reason = f"the {chat.channel} channel cannot edit messages"
            await self._commit(lambda s: s.outbox.cancel(message.id, reason=reason))
            return Outcome.CANCELLED
        fresh: list[Sent] = []
        try:
            try:
                await channel.edit(chat, target, reply)
            except MessageGone as error:
                logger.info("outbox message %s: %s; sending it anew", message.id, error)
                fresh = await channel.send(chat, [reply])
        except DeliveryError as error:
            return await self._on_failure(message, error)
        except Exception as error:
            logger.exception("outbox message %s could not be rendered", message.id)
            return await self._dead(message, f"bug: {type(error).__name__}")
        also = None
        if fresh:
            now = self.clock.now()

            async def also(session: StoreSession) -> None:
                await card_copies.replace(
                    session, key=message.idempotency_key, chat=chat, old=target, new=fresh, now=now
                )

        sent_ids = [item.message_id for item in fresh]
        await self._mark_sent(_Sent(chat.channel, message.id, sent_ids, 0, 0, also))
        self._count(message, "sent")
        return Outcome.SENT

    def _card_copy(
        self, message: OutboxMessage, sent: list[Sent]
    ) -> Callable[[StoreSession], Awaitable[None]] | None:
        """What to write when a card's first reply (the card) has been delivered as ``sent``."""
        if message.kind != card_copies.CARD_KIND or not sent:
            return None
        now = self.clock.now()

        def remember(session: StoreSession) -> Awaitable[None]:
            return card_copies.remember(
                session,
                kind=message.kind,
                key=message.idempotency_key,
                chat=message.chat,
                sent=sent,
                now=now,
            )

        return remember

    async def _on_failure(self, message: OutboxMessage, error: DeliveryError) -> Outcome:
        if isinstance(error, RetryAfter):
            return await self._on_retry_after(message, error.seconds)
        if isinstance(error, RecipientBlocked):
            return await self._on_blocked(message, error)
        if isinstance(error, PermanentFailure):
            return await self._dead(message, f"permanent: {error}")
        # TemporaryFailure and anything new in the family
        return await self._on_temporary(message, error)

    def _count(self, message: OutboxMessage, outcome: str) -> None:
        """One delivery attempt's outcome, counted by channel (``Metrics.delivery``)."""
        self.metrics.delivery(message.chat.channel.value, outcome)

    # -- group commit of what was sent --------------------------------------------------------

    async def _mark_sent(self, record: _Sent) -> None:
        """Commit SENT as soon as the database writer is free: sends that finish while a commit
        is running go together in the next one (group commit). Under load one transaction
        records many messages; nothing waits on purpose, so the window in which a crash would
        repeat a message is no longer than with one transaction per message — it is shorter,
        because no send queues behind a line of single-row transactions."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent_batch.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_sent(), name="outbox-sent")
        await future

    async def _flush_sent(self) -> None:
        while self._sent_batch:
            batch, self._sent_batch = self._sent_batch, []
            records = [record for record, _ in batch]
            try:
                await self._commit(partial(self._apply_sent, records))
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _apply_sent(self, records: list[_Sent], session: StoreSession) -> None:
        now = self.clock.now()
        await session.outbox.mark_sent_many(
            [(record.message_id, record.sent_ids) for record in records], now=now
        )
        for record in records:
            if record.also is not None:
                await record.also(session)
        for channel in {record.channel for record in records}:
            billed = sum(record.billed for record in records if record.channel is channel)
            free = sum(record.free for record in records if record.channel is channel)
            if billed or free:
                month = self._month(now)
                await session.stats.count_proactive(channel, month, billed=billed, free=free)

    async def _flushed(self) -> None:
        if self._flusher is not None:
            await self._flusher

    @staticmethod
    def _progress(
        message_id: int,
        parts_sent: int,
        sent_ids: list[str],
        also: Callable[[StoreSession], Awaitable[None]] | None = None,
    ) -> Callable[[StoreSession], Awaitable[None]]:
        async def change(session: StoreSession) -> None:
            await session.outbox.record_progress(
                message_id, parts_sent=parts_sent, sent_ids=sent_ids
            )
            if also is not None:
                await also(session)

        return change

    async def _policy_decision(
        self,
        policy: DeliveryPolicy,
        session: StoreSession,
        message: OutboxMessage,
        now: datetime,
    ) -> Proactive:
        """Ask the channel's policy, with when the resident last wrote; count what it held
        back (once per message) or dropped."""
        resident = (
            await session.residents.get_by_id(message.resident_id)
            if message.resident_id is not None
            else await session.residents.get(message.chat)
        )
        decision = policy.decide(
            kind=message.kind,
            created_at=message.created_at,
            last_seen=resident.last_seen if resident is not None else None,
            now=now,
        )
        channel, month = message.chat.channel, self._month(now)
        if decision is Proactive.DROP:
            await session.stats.count_proactive(channel, month, dropped=1)
        elif decision is Proactive.HOLD and message.last_error != _HELD_MARK:
            await session.stats.count_proactive(channel, month, held=1)
        return decision

    def _month(self, now: datetime) -> str:
        return now.astimezone(self.clock.tz).strftime("%Y-%m")

    # -- failures -----------------------------------------------------------------------------

    async def _on_retry_after(self, message: OutboxMessage, seconds: float) -> Outcome:
        chat = message.chat
        if self.limiter is not None:
            self.limiter.pause(chat, seconds)
            moment = self._monotonic()
            recent = self._recent_429
            recent.append((moment, chat))
            while recent and recent[0][0] < moment - _GLOBAL_FLOOD_WINDOW:
                recent.popleft()
            if len({who for _, who in recent}) >= _GLOBAL_FLOOD_CHATS:
                logger.warning("several chats answered 429: pausing all sending %.1f s", seconds)
                self.limiter.pause_all(seconds)
        logger.info("outbox message %s: 429, retry after %.1f s", message.id, seconds)
        not_before = self.clock.now() + timedelta(seconds=seconds)
        await self._commit(
            lambda s: s.outbox.reschedule(
                message.id, not_before=not_before, error="429", count_attempt=False
            )
        )
        self._count(message, "rate_limited")
        return Outcome.RETRY

    async def _on_temporary(self, message: OutboxMessage, error: Exception) -> Outcome:
        attempts = message.attempts + 1  # the claim counted this one
        text = f"{type(error).__name__}: {error}"
        if attempts >= self.retry.max_attempts:
            return await self._dead(message, f"gave up after {attempts} attempts: {text}")
        delay = backoff_delay(attempts, self.retry, self._rand)
        not_before = self.clock.now() + timedelta(seconds=delay)
        logger.info(
            "outbox message %s: attempt %s failed (%s); next in %.1f s",
            message.id,
            attempts,
            type(error).__name__,
            delay,
        )
        await self._commit(
            lambda s: s.outbox.reschedule(message.id, not_before=not_before, error=text)
        )
        self._count(message, "retried")
        return Outcome.RETRY

    async def _on_blocked(self, message: OutboxMessage, error: RecipientBlocked) -> Outcome:
        async def block(session: StoreSession) -> bool:
            resident = (
                await session.residents.get_by_id(message.resident_id)
                if message.resident_id is not None
                else await session.residents.get(message.chat)
            )
            if resident is None:
                await session.outbox.mark_dead(message.id, error=f"blocked: {error}")
                return False
            await session.residents.set_blocked(resident.id, True)
            await session.outbox.cancel(message.id, reason="recipient blocked the bot")
            await session.outbox.cancel_for_chat(message.chat, reason="recipient blocked the bot")
            return True

        blocked = await self._commit(block)
        self._count(message, "blocked")
        if blocked:
            logger.info("resident of outbox message %s blocked the bot", message.id)
            return Outcome.CANCELLED
        # A group that removed the bot: staff can add it back and retry the dead letter.
        logger.warning("outbox message %s: the chat refused the bot", message.id)
        return Outcome.DEAD

    async def _dead(self, message: OutboxMessage, error: str) -> Outcome:
        logger.warning("outbox message %s is a dead letter", message.id)
        await self._commit(lambda s: s.outbox.mark_dead(message.id, error=error))
        self._count(message, DEAD_LETTER)
        return Outcome.DEAD

    async def _commit(self, change: Callable[[StoreSession], Awaitable[T]]) -> T:
        """Run ``change`` in its own transaction, retrying a busy database a few times: the
        state of a message the platform has answered about must not be lost to a hiccup."""
        delay = 0.05
        for attempt in range(6):
            try:
                async with self.storage.transaction() as session:
                    return await change(session)
            except StorageError:
                if attempt == 5:
                    raise
                logger.warning("outbox update failed; retrying in %.2f s", delay)
                await asyncio.sleep(delay)
                delay *= 3
        raise AssertionError("unreachable")
