"""Replies committed with their update (notifications.replies): what the sender does with them
when the platform takes them, refuses them for now, or the process stops mid-send."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.ops import PrometheusMetrics
from domain.channel import RetryAfter, Sent
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Handled, Incoming, Kind, Reply
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from notifications.quiet import QuietHours
from notifications.replies import ReplySender, keep_replies
from notifications.worker import OutboxWorker
from storage.base import StoreSession
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_notifications.helpers import ALICE, BOB, ScriptedChannel, messages, texts

KYIV = ZoneInfo("Europe/Kyiv")


def conversation(storage: SqliteStorage, clock: ManualClock) -> Conversation:
    return Conversation(
        storage=storage,
        clock=clock,
        texts=texts(),
        features=[MenuFeature()],
        keep_replies=keep_replies,
    )


def hello(user: UserRef, update: int) -> Incoming:
    return Incoming(user, Kind.TEXT, text="/start", update_key=f"tg:{update}")


async def test_the_replies_are_committed_with_the_update_as_an_urgent_row_being_sent(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    handled = await conversation(storage, clock).process(hello(ALICE, 1))
    assert handled.committed
    assert handled.replies
    [row] = await messages(storage)
    assert row.id == handled.kept_id
    assert row.idempotency_key == "reply:tg:1"
    assert row.kind == "reply"
    assert row.status is OutboxStatus.SENDING
    assert row.urgent  # never held back by quiet hours
    assert row.chat == ALICE


async def test_a_redelivered_update_keeps_nothing_new(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    talk = conversation(storage, clock)
    await talk.process(hello(ALICE, 1))
    again = await talk.process(hello(ALICE, 1))
    assert again == Handled()
    assert len(await messages(storage)) == 1


async def test_handle_keeps_nothing_and_an_update_without_a_key_keeps_nothing(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    talk = conversation(storage, clock)
    assert await talk.handle(hello(ALICE, 1))  # the console's path: replies returned only
    keyless = await talk.process(Incoming(BOB, Kind.TEXT, text="/start"))
    assert keyless.replies
    assert keyless.kept_id is None
    assert await messages(storage) == []


async def test_a_busy_database_commits_nothing_and_says_so(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "busy.sqlite3"
    store = await SqliteStorage.open(path, busy_timeout_ms=50)
    talk = conversation(store, clock)
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as blocker:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
            handled = await talk.process(hello(ALICE, 1))
            blocker.execute("ROLLBACK")
        assert not handled.committed
        assert handled.kept_id is None
        # The adapter drops this reply where the platform delivers the update again.
        assert [reply.text for reply in handled.replies] == [texts().get("uk", "busy")]
        assert await messages(store) == []
        # Delivered again, it is processed as if for the first time.
        assert (await talk.process(hello(ALICE, 1))).kept_id is not None
    finally:
        await store.close()


def deliveries(metrics: PrometheusMetrics, channel: ChannelName, outcome: str) -> float | None:
    """``bot_deliveries_total`` as /metrics shows it."""
    labels = {"channel": channel.value, "outcome": outcome}
    return metrics.registry.get_sample_value("bot_deliveries_total", labels)


async def test_sent_replies_are_marked_sent_with_the_platform_ids(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    metrics = PrometheusMetrics()
    sender = ReplySender(storage, {channel.name: channel}, clock, metrics=metrics)
    talk = conversation(storage, clock)
    for number, user in enumerate((ALICE, BOB, ALICE), start=1):
        sender.send(user, await talk.process(hello(user, number)))
    await sender.close()
    rows = await messages(storage)
    assert [row.status for row in rows] == [OutboxStatus.SENT] * 3
    assert all(row.sent_ids for row in rows)
    assert sender.sent == 3
    assert deliveries(metrics, channel.name, "sent") == 3
    assert len(channel.texts(ALICE)) == 2 * len(channel.texts(BOB))


async def test_a_reply_refused_for_now_goes_to_the_worker_after_the_parts_already_sent(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=KYIV))  # quiet hours
    channel = ScriptedChannel()
    metrics = PrometheusMetrics()
    sender = ReplySender(storage, {channel.name: channel}, clock, rand=Half(), metrics=metrics)
    handled = Handled([Reply("one"), Reply("two"), Reply("three")], kept_id=None)
    async with storage.transaction() as session:
        kept = await keep_replies(
            session, hello(ALICE, 7), handled.replies, await _resident(session, clock), clock.now()
        )
    channel_fails_on_second_part(channel)
    sender.send(ALICE, Handled(handled.replies, kept_id=kept))
    await sender.close()
    [row] = await messages(storage)
    assert row.status is OutboxStatus.PENDING
    assert row.parts_sent == 1
    assert row.not_before == clock.now() + timedelta(seconds=30 * 1.25)  # retry_after, jitter
    assert sender.returned == 1
    assert deliveries(metrics, channel.name, "rate_limited") == 1
    assert deliveries(metrics, channel.name, "sent") == 0
    # The worker sends the rest at once when due, quiet hours or not, and not the first again.
    worker = OutboxWorker(
        storage,
        {channel.name: channel},
        clock,
        quiet_hours=QuietHours(time(22), time(8), KYIV),
        rand=lambda: 0.5,
    )
    await worker.drain()
    assert channel.texts(ALICE) == ["one"]
    clock.advance(timedelta(seconds=40))
    await worker.drain()
    assert channel.texts(ALICE) == ["one", "two", "three"]
    [row] = await messages(storage)
    assert row.status is OutboxStatus.SENT


async def test_a_send_cut_off_at_shutdown_stays_sending_and_recovery_sends_it(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    class Stuck(ScriptedChannel):
        async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
            await asyncio.sleep(3600)
            raise AssertionError("never")

    sender = ReplySender(storage, {Stuck().name: Stuck()}, clock)
    sender.send(ALICE, await conversation(storage, clock).process(hello(ALICE, 1)))
    await asyncio.sleep(0)
    await sender.close(grace=0.05)
    [row] = await messages(storage)
    assert row.status is OutboxStatus.SENDING
    channel = ScriptedChannel()
    worker = OutboxWorker(storage, {channel.name: channel}, clock, rand=lambda: 0.5)
    assert await worker.recover() == 1
    await worker.drain()
    assert channel.texts(ALICE)
    [row] = await messages(storage)
    assert row.status is OutboxStatus.SENT


async def test_a_later_notification_waits_for_the_reply_being_sent(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    """Per-chat order: a status update queued after the reply does not overtake it."""
    from services.outbox import enqueue  # noqa: PLC0415

    await conversation(storage, clock).process(hello(ALICE, 1))
    async with storage.transaction() as session:
        await enqueue(
            session, key="s1", chat=ALICE, replies=[Reply("status")], kind="status", now=clock.now()
        )
        assert await session.outbox.heads(now=clock.now(), quiet=False, limit=10) == []


def channel_fails_on_second_part(channel: ScriptedChannel) -> None:
    original = channel.send
    calls = 0

    async def send(chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RetryAfter(30)
        return await original(chat, replies)

    channel.send = send  # type: ignore[method-assign]


class Half(random.Random):
    """Jitter fixed at its middle."""

    def random(self) -> float:
        return 0.5


async def _resident(session: StoreSession, clock: ManualClock) -> int:
    return (await session.residents.touch(ALICE, now=clock.now())).id
