"""The outbox worker against the fake Bot API over real HTTP, with its flood limits enforced and
faults injected: everything queued arrives once, in order, and no limit is exceeded."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.telegram.channel import TelegramChannel
from bot.telegram.pacing import create_paced_bot
from domain.clock import SystemClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from fakes.telegram_api import FakeTelegramServer, RateLimits
from notifications.limits import ChatRateLimiter
from notifications.limits import RateLimits as OurLimits
from notifications.worker import OutboxWorker, RetryPolicy
from services.outbox import enqueue
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage

TOKEN = "123456:TEST"
GROUP = -1001234567890
MARK = re.compile(r"\[(m\d+)\]")
FINAL = {OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.CANCELLED}


@dataclass
class Delivery:
    server: FakeTelegramServer
    storage: SqliteStorage
    limiter: ChatRateLimiter
    worker: OutboxWorker
    count: int = 0

    async def queue(self, chat_id: int, *, urgent: bool = False, resident: bool = True) -> str:
        """One message to ``chat_id``; its text carries a unique mark."""
        self.count += 1
        key = f"m{self.count}"
        chat = UserRef(ChannelName.TELEGRAM, str(chat_id))
        async with self.storage.transaction() as session:
            resident_id = None
            if resident and chat_id > 0:
                resident_id = (await session.residents.touch(chat, now=self.worker.clock.now())).id
            await enqueue(
                session,
                key=key,
                chat=chat,
                replies=[Reply(f"Оновлення <заявки> [{key}]")],
                kind="status",
                now=self.worker.clock.now(),
                urgent=urgent,
                resident_id=resident_id,
            )
        return key

    async def run_until_settled(self) -> None:
        """Run the worker until every message is sent, dead or cancelled (a bounded wait)."""
        task = asyncio.create_task(self.worker.run())
        try:
            async with asyncio.timeout(60):
                while True:
                    async with self.storage.transaction() as session:
                        counts = await session.outbox.counts()
                    if sum(counts[s] for s in FINAL) == self.count:
                        break
                    await asyncio.sleep(0.05)
        finally:
            self.worker.stop()
            await asyncio.wait_for(task, 30)

    def delivered(self) -> Counter[str]:
        marks: Counter[str] = Counter()
        for call in self.server.sent_messages():
            found = MARK.search(call.text or "")
            if found:
                marks[found.group(1)] += 1
        return marks

    def order(self, chat_id: int) -> list[int]:
        return [
            int(MARK.search(call.text or "").group(1)[1:])  # type: ignore[union-attr]
            for call in self.server.sent_messages(chat_id)
            if MARK.search(call.text or "")
        ]

    async def statuses(self) -> dict[str, tuple[OutboxStatus, int]]:
        async with self.storage.transaction() as session:
            found = []
            for status in OutboxStatus:
                found += await session.outbox.list(status=status, limit=10_000)
        return {m.idempotency_key: (m.status, m.attempts) for m in found}


@pytest.fixture
async def delivery(storage: SqliteStorage) -> AsyncIterator[Delivery]:
    # Telegram's per-second limits; the group window shrunk to 2 s so the group limit is
    # exercised without waiting a minute.
    server_limits = RateLimits(
        per_second_total=30, per_chat_per_second=1, per_group_per_minute=5, group_window=2.0
    )
    async with FakeTelegramServer(token=TOKEN, limits=server_limits) as server:
        server.add_chat(GROUP, type="supergroup", title="Оператори 1520")
        limiter = ChatRateLimiter(
            OurLimits(total_per_second=30, per_chat_per_second=1, per_group_per_minute=5,
                      group_window_seconds=2.0)
        )  # fmt: skip
        bot = create_paced_bot(TOKEN, server.base_url, limiter, timeout=1.0)
        worker = OutboxWorker(
            storage,
            {ChannelName.TELEGRAM: TelegramChannel(bot, wait_retry_after=False)},
            SystemClock(),
            limiter=limiter,
            retry=RetryPolicy(max_attempts=4, backoff_base=0.1, backoff_cap=0.4),
            poll_interval=0.05,
            refresh_interval=0.05,
        )
        try:
            yield Delivery(server, storage, limiter, worker)
        finally:
            await bot.session.close()


async def test_every_message_arrives_once_in_order_and_within_the_limits(
    delivery: Delivery,
) -> None:
    for round_ in range(3):
        for chat in range(1, 41):
            await delivery.queue(1000 + chat)
        await delivery.queue(GROUP, urgent=True, resident=False)
        if round_ < 2:
            await delivery.queue(GROUP, resident=False)
    await delivery.queue(GROUP, resident=False)
    await delivery.run_until_settled()

    assert delivery.server.violations == []
    delivered = delivery.delivered()
    assert len(delivered) == delivery.count == 126
    assert set(delivered.values()) == {1}
    for chat in (1001, 1040, GROUP):
        assert delivery.order(chat) == sorted(delivery.order(chat))
    statuses = await delivery.statuses()
    assert {status for status, _ in statuses.values()} == {OutboxStatus.SENT}


async def test_429_5xx_and_network_failures_are_retried_and_still_arrive_once(
    delivery: Delivery,
) -> None:
    faults = delivery.server.faults
    faults.add(kind="429", chat_id=2001, retry_after=1, times=2)
    faults.add(kind="500", chat_id=2002, times=2)
    faults.add(kind="html502", chat_id=2003)
    faults.add(kind="disconnect", chat_id=2004)
    faults.add(kind="timeout", chat_id=2005, apply=False, delay=3.0)  # lost before delivery
    keys = {}
    for chat in range(2001, 2007):
        keys[chat] = [await delivery.queue(chat), await delivery.queue(chat)]
    await delivery.run_until_settled()

    assert delivery.server.violations == []
    assert set(delivery.delivered().values()) == {1}
    assert len(delivery.delivered()) == 12
    for chat in range(2001, 2007):
        assert delivery.order(chat) == sorted(delivery.order(chat))
    statuses = await delivery.statuses()
    assert statuses[keys[2001][0]] == (OutboxStatus.SENT, 1)  # two 429s are not attempts
    assert statuses[keys[2002][0]] == (OutboxStatus.SENT, 3)
    assert statuses[keys[2004][0]] == (OutboxStatus.SENT, 2)
    assert statuses[keys[2006][0]] == (OutboxStatus.SENT, 1)


async def test_a_timeout_after_the_platform_accepted_repeats_that_one_message(
    delivery: Delivery,
) -> None:
    """The honest limit of at-least-once: the Bot API has no idempotency key, so a reply the
    platform accepted but whose answer never came is sent again — exactly once more."""
    delivery.server.faults.add(kind="timeout", chat_id=3001, apply=True, delay=3.0)
    key = await delivery.queue(3001)
    other = await delivery.queue(3002)
    await delivery.run_until_settled()
    assert delivery.delivered()[key] == 2
    assert delivery.delivered()[other] == 1


async def test_a_resident_who_blocked_the_bot_is_marked_and_their_queue_cancelled(
    delivery: Delivery,
) -> None:
    delivery.server.block(4001)
    first = await delivery.queue(4001)
    second = await delivery.queue(4001)
    other = await delivery.queue(4002)
    await delivery.run_until_settled()
    statuses = await delivery.statuses()
    assert statuses[first][0] is OutboxStatus.CANCELLED
    assert statuses[second][0] is OutboxStatus.CANCELLED
    assert statuses[other][0] is OutboxStatus.SENT
    async with delivery.storage.transaction() as session:
        resident = await session.residents.get(UserRef(ChannelName.TELEGRAM, "4001"))
        assert resident is not None
        assert resident.blocked
        assert not await enqueue(
            session,
            key="later",
            chat=resident.user,
            replies=[Reply("x")],
            kind="status",
            now=delivery.worker.clock.now(),
        )


async def test_a_chat_that_keeps_failing_ends_as_a_dead_letter_after_bounded_tries(
    delivery: Delivery,
) -> None:
    delivery.server.faults.add(kind="502", chat_id=5001, times=None)
    key = await delivery.queue(5001)
    other = await delivery.queue(5002)
    await delivery.run_until_settled()
    statuses = await delivery.statuses()
    assert statuses[key] == (OutboxStatus.DEAD, 4)
    assert statuses[other] == (OutboxStatus.SENT, 1)
    assert len([c for c in delivery.server.calls if c.chat_id == 5001]) == 4
