"""The outbox worker with channels that fail on demand: order, retries, dead letters, blocked
residents, quiet hours, crash recovery, the Viber window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.viber.policy import ViberDeliveryPolicy, ViberProactive
from domain.channel import PermanentFailure, RecipientBlocked, RetryAfter, Sent, TemporaryFailure
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from notifications.limits import ChatRateLimiter, RateLimits
from notifications.quiet import QuietHours
from notifications.worker import (
    OutboxWorker,
    Outcome,
    RetryPolicy,
    backoff_delay,
)
from services.outbox import enqueue
from storage.base import Storage
from storage.outbox import OutboxStatus
from tests.test_notifications.helpers import ALICE, BOB, STAFF, ScriptedChannel, messages, resident

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

KYIV = ZoneInfo("Europe/Kyiv")
VIBER_USER = UserRef(ChannelName.VIBER, "viber-1")


async def queue(
    storage: Storage,
    clock: ManualClock,
    chat: UserRef,
    key: str,
    *texts: str,
    urgent: bool = False,
    kind: str = "status",
    resident_id: int | None = None,
) -> bool:
    async with storage.transaction() as session:
        return await enqueue(
            session,
            key=key,
            chat=chat,
            replies=[Reply(text) for text in texts or (key,)],
            kind=kind,
            now=clock.now(),
            urgent=urgent,
            resident_id=resident_id,
        )


def worker(
    storage: Storage,
    clock: ManualClock,
    channel: ScriptedChannel,
    **options: object,
) -> OutboxWorker:
    # Viber's delivery policy as the composition root registers it (the 24-hour window).
    options.setdefault("policies", {ChannelName.VIBER: ViberDeliveryPolicy()})
    return OutboxWorker(storage, {channel.name: channel}, clock, rand=lambda: 0.5, **options)  # type: ignore[arg-type]


async def test_every_message_goes_once_and_in_order_per_chat(
    storage: Storage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    for index in range(6):
        await queue(storage, clock, ALICE if index % 2 else BOB, f"m{index}")
    await queue(storage, clock, ALICE, "m1")  # the same key again adds nothing
    result = await worker(storage, clock, channel).drain()
    assert result.sent == 6
    assert channel.texts(ALICE) == ["m1", "m3", "m5"]
    assert channel.texts(BOB) == ["m0", "m2", "m4"]
    assert {m.status for m in await messages(storage)} == {OutboxStatus.SENT}


async def test_a_temporary_failure_is_retried_with_backoff_and_holds_the_chat_back(
    storage: Storage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    channel.fail(ALICE, TemporaryFailure("502"))
    await queue(storage, clock, ALICE, "first")
    await queue(storage, clock, ALICE, "second")
    await queue(storage, clock, BOB, "other chat")
    work = worker(storage, clock, channel, retry=RetryPolicy(max_attempts=3, backoff_base=10))
    first = await work.drain()
    assert first.outcomes[Outcome.RETRY] == 1
    # The second message waits for the first; another chat is not held up.
    assert channel.texts() == ["other chat"]
    pending = await messages(storage, OutboxStatus.PENDING)
    assert [m.attempts for m in pending] == [1, 0]
    assert pending[0].not_before == clock.now() + timedelta(seconds=7.5)  # 10 s, equal jitter
    clock.advance(timedelta(seconds=8))
    await work.drain()
    assert channel.texts(ALICE) == ["first", "second"]


async def test_bounded_attempts_end_in_a_dead_letter_that_staff_can_retry(
    storage: Storage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    channel.fail(ALICE, *(TemporaryFailure("timeout") for _ in range(3)))
    await queue(storage, clock, ALICE, "lost?")
    work = worker(storage, clock, channel, retry=RetryPolicy(max_attempts=3, backoff_base=1))
    for _ in range(3):
        await work.drain()
        clock.advance(timedelta(minutes=5))
    [dead] = await messages(storage, OutboxStatus.DEAD)
    assert dead.attempts == 3
    assert "gave up after 3 attempts" in (dead.last_error or "")
    assert channel.sent == []
    async with storage.transaction() as session:
        assert await session.outbox.retry_dead(now=clock.now(), message_id=dead.id) == 1
    await work.drain()
    assert channel.texts(ALICE) == ["lost?"]


async def test_a_permanent_failure_is_dead_at_once(storage: Storage, clock: ManualClock) -> None:
    channel = ScriptedChannel()
    channel.fail(ALICE, PermanentFailure("chat not found"))
    await queue(storage, clock, ALICE, "x")
    await worker(storage, clock, channel).drain()
    [dead] = await messages(storage, OutboxStatus.DEAD)
    assert dead.attempts == 1


async def test_429_pauses_and_reschedules_without_counting_an_attempt(
    storage: Storage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    channel.fail(ALICE, *(RetryAfter(3) for _ in range(10)))
    await queue(storage, clock, ALICE, "slow down")
    work = worker(storage, clock, channel, retry=RetryPolicy(max_attempts=2))
    for _ in range(10):
        await work.drain()
        clock.advance(timedelta(seconds=3))
    [message] = await messages(storage, OutboxStatus.PENDING)
    assert message.attempts == 0  # ten 429s are not ten failures
    await work.drain()
    assert channel.texts() == ["slow down"]


async def test_a_blocked_resident_is_marked_their_queue_cancelled_and_nothing_more_queued(
    storage: Storage, clock: ManualClock
) -> None:
    alice = await resident(storage, ALICE, clock)
    channel = ScriptedChannel()
    channel.fail(ALICE, RecipientBlocked("bot was blocked by the user"))
    await queue(storage, clock, ALICE, "a1", resident_id=alice.id)
    await queue(storage, clock, ALICE, "a2", resident_id=alice.id)
    await queue(storage, clock, BOB, "b1")
    await worker(storage, clock, channel).drain()
    async with storage.transaction() as session:
        found = await session.residents.get_by_id(alice.id)
    assert found is not None
    assert found.blocked
    statuses = {m.idempotency_key: m.status for m in await messages(storage)}
    assert statuses == {
        "a1": OutboxStatus.CANCELLED,
        "a2": OutboxStatus.CANCELLED,
        "b1": OutboxStatus.SENT,
    }
    assert not await queue(storage, clock, ALICE, "a3", resident_id=alice.id)
    assert not await queue(storage, clock, ALICE, "a4")  # found by chat too
    # Writing again unblocks (residents.touch) and messages flow again.
    await resident(storage, ALICE, clock)
    assert await queue(storage, clock, ALICE, "a5")


async def test_a_group_that_refuses_the_bot_gives_a_dead_letter(
    storage: Storage, clock: ManualClock
) -> None:
    channel = ScriptedChannel()
    channel.fail(STAFF, RecipientBlocked("bot was kicked from the supergroup chat"))
    await queue(storage, clock, STAFF, "card", urgent=True)
    await worker(storage, clock, channel).drain()
    assert [m.status for m in await messages(storage)] == [OutboxStatus.DEAD]


async def test_quiet_hours_hold_non_urgent_messages_until_morning(
    storage: Storage, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 25, 23, 30, tzinfo=KYIV))
    channel = ScriptedChannel()
    quiet = QuietHours(time(22), time(8), KYIV)
    await queue(storage, clock, ALICE, "status at night")
    await queue(storage, clock, STAFF, "escalation", urgent=True)
    await queue(storage, clock, ALICE, "urgent for alice", urgent=True)
    work = worker(storage, clock, channel, quiet_hours=quiet)
    await work.drain()
    # Urgent ones go (and may overtake a held non-urgent one); the status update waits.
    assert channel.texts() == ["escalation", "urgent for alice"]
    clock.set(datetime(2026, 11, 26, 7, 59, tzinfo=KYIV))
    await work.drain()
    assert channel.texts(ALICE) == ["urgent for alice"]
    clock.set(datetime(2026, 11, 26, 8, 0, tzinfo=KYIV))
    await work.drain()
    assert channel.texts(ALICE) == ["urgent for alice", "status at night"]


async def test_messages_left_sending_by_a_crash_are_sent_again_after_their_lease(
    storage: Storage, clock: ManualClock
) -> None:
    await queue(storage, clock, ALICE, "in flight")
    await queue(storage, clock, ALICE, "after it")
    async with storage.transaction() as session:
        [head] = await session.outbox.heads(now=clock.now(), quiet=False, limit=10)
        # The process died right after this.
        assert await session.outbox.claim(head.id, now=clock.now())
        assert await session.outbox.heads(now=clock.now(), quiet=False, limit=10) == []
    channel = ScriptedChannel()
    work = worker(storage, clock, channel)
    # Its lease still runs: it may be being sent by a live process.
    assert await work.recover() == 0
    clock.advance(timedelta(seconds=storage.outbox_lease.seconds))
    assert await work.recover() == 1
    await work.drain()
    assert channel.texts() == ["in flight", "after it"]


async def test_a_message_of_several_replies_resumes_after_the_accepted_ones(
    storage: Storage, clock: ManualClock
) -> None:
    class FailsOnSecond(ScriptedChannel):
        async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
            if replies[0].text == "part 2" and not getattr(self, "failed", False):
                self.failed = True
                raise TemporaryFailure("reset")
            return await super().send(chat, replies)

    channel = FailsOnSecond()
    await queue(storage, clock, ALICE, "k", "part 1", "part 2", "part 3")
    work = worker(storage, clock, channel)
    await work.drain()
    clock.advance(timedelta(minutes=1))
    await work.drain()
    assert channel.texts() == ["part 1", "part 2", "part 3"]
    [message] = await messages(storage, OutboxStatus.SENT)
    assert message.sent_ids == ("1", "2", "3")


async def test_messages_of_a_channel_this_process_lacks_stay_pending(
    storage: Storage, clock: ManualClock
) -> None:
    await queue(storage, clock, VIBER_USER, "for viber")
    await queue(storage, clock, ALICE, "for telegram")
    channel = ScriptedChannel()
    await worker(storage, clock, channel).drain()
    assert channel.texts() == ["for telegram"]
    assert [m.idempotency_key for m in await messages(storage, OutboxStatus.PENDING)] == [
        "for viber"
    ]


@pytest.mark.parametrize(
    ("policy", "hours_since_seen", "kind", "expected", "bill"),
    [
        (ViberProactive.WINDOW, 2, "status", OutboxStatus.SENT, (0, 1, 0, 0)),
        (ViberProactive.WINDOW, 30, "status", OutboxStatus.PENDING, (0, 0, 1, 0)),
        (ViberProactive.WINDOW, 30, "followup_reminder", OutboxStatus.CANCELLED, (0, 0, 0, 1)),
        (ViberProactive.ALWAYS, 30, "status", OutboxStatus.SENT, (1, 0, 0, 0)),
        (ViberProactive.NEVER, 2, "status", OutboxStatus.CANCELLED, (0, 0, 0, 1)),
    ],
)
async def test_the_viber_policy_and_the_monthly_bill(
    storage: Storage,
    clock: ManualClock,
    policy: ViberProactive,
    hours_since_seen: int,
    kind: str,
    expected: OutboxStatus,
    bill: tuple[int, int, int, int],
) -> None:
    person = await resident(storage, VIBER_USER, clock)
    clock.advance(timedelta(hours=hours_since_seen))
    await queue(storage, clock, VIBER_USER, "update", kind=kind, resident_id=person.id)
    channel = ScriptedChannel(name=ChannelName.VIBER)
    policies = {ChannelName.VIBER: ViberDeliveryPolicy(policy)}
    await worker(storage, clock, channel, policies=policies).drain()
    assert [m.status for m in await messages(storage)] == [expected]
    month = clock.now().astimezone(KYIV).strftime("%Y-%m")
    async with storage.transaction() as session:
        found = await session.stats.proactive_bill(ChannelName.VIBER, month)
    assert (found.billed, found.free, found.held, found.dropped) == bill


async def test_a_held_viber_message_goes_once_the_resident_writes_again(
    storage: Storage, clock: ManualClock
) -> None:
    person = await resident(storage, VIBER_USER, clock)
    clock.advance(timedelta(hours=30))
    await queue(storage, clock, VIBER_USER, "your request is done", resident_id=person.id)
    channel = ScriptedChannel(name=ChannelName.VIBER)
    work = worker(storage, clock, channel)
    await work.drain()
    assert channel.sent == []
    await resident(storage, VIBER_USER, clock)  # the resident writes: the window opens
    clock.advance(timedelta(minutes=11))
    await work.drain()
    assert channel.texts() == ["your request is done"]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff_base=2, backoff_cap=60)
    assert backoff_delay(1, policy, lambda: 0.0) == 1.0
    assert backoff_delay(1, policy, lambda: 1.0) == 2.0
    assert backoff_delay(4, policy, lambda: 1.0) == 16.0
    assert backoff_delay(20, policy, lambda: 1.0) == 60.0


async def test_run_delivers_until_stopped_and_wakes_on_notify(
    storage: Storage, clock: ManualClock
) -> None:
    import asyncio  # noqa: PLC0415

    channel = ScriptedChannel()
    work = worker(storage, clock, channel, poll_interval=30.0)
    task = asyncio.create_task(work.run())
    await queue(storage, clock, ALICE, "hello")
    work.notify()
    async with asyncio.timeout(10):
        while not channel.sent:  # noqa: ASYNC110 - polling a fake's record, with a timeout
            await asyncio.sleep(0.01)
    work.stop()
    await asyncio.wait_for(task, 10)
    assert channel.texts() == ["hello"]


async def test_a_restarted_worker_remembers_the_last_minute_of_sends(
    storage: Storage, clock: ManualClock
) -> None:
    group = UserRef(ChannelName.TELEGRAM, "-100777")
    channel = ScriptedChannel()
    for index in range(3):
        await queue(storage, clock, group, f"g{index}")
    await worker(storage, clock, channel).drain()
    clock.advance(timedelta(seconds=30))  # the process dies and comes back half a minute later

    class Frozen:
        now = 500.0

        def __call__(self) -> float:
            return self.now

    monotonic = Frozen()
    limiter = ChatRateLimiter(
        RateLimits(per_group_per_minute=3, total_per_second=30), monotonic=monotonic
    )
    await worker(storage, clock, channel, limiter=limiter).recover()
    # Three sends 30 s ago fill this group's minute: 30 s more to wait, not zero.
    assert limiter.delay(group) == pytest.approx(30.0)
    assert limiter.delay(ALICE) == 0.0


async def test_an_edit_for_a_channel_that_cannot_edit_is_cancelled_not_retried(
    storage: Storage, clock: ManualClock
) -> None:
    from services.outbox import enqueue_edit  # noqa: PLC0415 - this test's own vocabulary

    channel = ScriptedChannel(name=ChannelName.VIBER)  # sends, has no ``edit``
    async with storage.transaction() as session:
        await enqueue_edit(
            session,
            key="req:1:card_edit:2:3",
            chat=VIBER_USER,
            message=Sent("token-1", main=True),
            reply=Reply("card"),
            kind="card_edit",
            now=clock.now(),
        )
    result = await OutboxWorker(storage, {ChannelName.VIBER: channel}, clock).drain()
    assert result.outcomes[Outcome.CANCELLED] == 1
    assert channel.calls == 0
    [row] = await messages(storage)
    assert row.status is OutboxStatus.CANCELLED
    assert "cannot edit" in (row.last_error or "")
