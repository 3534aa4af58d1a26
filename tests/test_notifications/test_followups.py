"""The "was it really done?" loop end to end: done -> (FOLLOWUP_DELAY) -> question in the outbox
-> the resident's buttons -> rating stored and counted, or the request reopened and staff told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from domain.clock import ManualClock
from domain.identity import UserRef
from domain.messages import Incoming, Kind
from domain.payloads import build
from domain.requests import EventKind, Request, Status
from fakes.recording import RecordingChannel, Resident
from handlers.conversation import Conversation
from handlers.followup import FollowupFeature
from handlers.menu import MenuFeature
from notifications.scheduler import NotificationJobs
from notifications.worker import OutboxWorker
from services.followups import ACTION_ANSWER, FollowupService, FollowupSettings
from services.requests import RequestService
from storage.base import Storage
from storage.followups import FollowupOutcome, FollowupStatus
from storage.outbox import OutboxMessage, OutboxStatus
from tests.test_notifications.helpers import (
    ALICE,
    BOB,
    STAFF,
    file_request,
    make_requests,
    messages,
    replies,
    set_status,
    texts,
)

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

DELAY = timedelta(minutes=5)
SETTINGS = FollowupSettings(
    delay=DELAY,
    reminder_after=timedelta(hours=24),
    answer_days=7,
    reason_wait=timedelta(hours=2),
)


@dataclass
class World:
    storage: Storage
    clock: ManualClock
    requests: RequestService
    followups: FollowupService
    jobs: NotificationJobs
    conversation: Conversation
    channel: RecordingChannel
    worker: OutboxWorker

    def resident(self, user: UserRef) -> Resident:
        return Resident(self.conversation, user)

    async def tick(self) -> int:
        return await self.jobs.followups_tick()

    async def deliver(self) -> None:
        await self.worker.drain()

    def received(self, user: UserRef) -> list[str]:
        return self.channel.texts(user)

    async def outbox(self, prefix: str) -> list[OutboxMessage]:
        return [m for m in await messages(self.storage) if m.idempotency_key.startswith(prefix)]

    async def done_request(self, user: UserRef = ALICE) -> Request:
        request = await file_request(self.storage, self.requests, user, self.clock)
        await set_status(self.storage, self.requests, request.id, Status.ACCEPTED)
        return await set_status(self.storage, self.requests, request.id, Status.DONE)

    async def asked(self, user: UserRef = ALICE) -> tuple[Request, Resident]:
        """A done request, the delay passed, the question delivered; the resident holds it."""
        request = await self.done_request(user)
        self.clock.advance(DELAY)
        assert await self.tick() == 1
        await self.deliver()
        person = self.resident(user)
        question = [r for to, r in self.channel.sent if to == user and r.all_buttons][-1]
        person.last = [question]
        return request, person


@pytest.fixture
def world(storage: Storage, clock: ManualClock) -> World:
    requests = make_requests(clock)
    followups = FollowupService(requests, texts(), clock, staff_chat=STAFF, settings=SETTINGS)
    conversation = Conversation(
        storage=storage,
        clock=clock,
        texts=texts(),
        features=[FollowupFeature(followups), MenuFeature()],
    )
    channel = RecordingChannel(name=ALICE.channel)
    worker = OutboxWorker(storage, {ALICE.channel: channel}, clock)
    jobs = NotificationJobs(storage, followups=followups)
    return World(storage, clock, requests, followups, jobs, conversation, channel, worker)


async def test_the_question_comes_after_the_delay_in_the_residents_language(world: World) -> None:
    request = await world.done_request()
    assert await world.tick() == 0  # not yet
    world.clock.advance(DELAY - timedelta(seconds=1))
    assert await world.tick() == 0
    world.clock.advance(timedelta(seconds=1))
    assert await world.tick() == 1
    assert await world.tick() == 0  # one follow-up per resolution, however often it ticks
    [message] = await world.outbox("fu:")
    assert message.kind == "followup"
    assert not message.urgent
    [question] = replies(message)
    assert request.number in question.text
    assert [b.label for b in question.all_buttons] == ["✅ Так", "🟡 Частково", "❌ Ні"]


async def test_no_means_reopened_to_the_same_executor_with_a_new_deadline_and_staff_told(
    world: World,
) -> None:
    request, alice = await world.asked()
    await alice.press("Ні")
    assert "що саме залишилося" in alice.text
    world.clock.advance(timedelta(minutes=3))
    await alice.say("Вода так і не з'явилася, кран сухий")
    assert "відкрито повторно" in alice.text

    async with world.storage.transaction() as session:
        reopened = await session.requests.get(request.id)
        history = await session.requests.history(request.id)
        followup = await session.followups.latest_for_request(request.id)
    assert reopened is not None
    assert followup is not None
    assert reopened.status is Status.REOPENED
    assert reopened.executor_id == request.executor_id
    assert reopened.resolve_due > request.resolve_due
    assert reopened.resolve_due == world.clock.now() + (request.resolve_due - request.created_at)
    assert history[-1].event is EventKind.STATUS
    assert history[-1].to_status is Status.REOPENED
    assert history[-1].note == "Вода так і не з'явилася, кран сухий"
    assert followup.outcome is FollowupOutcome.NO
    assert followup.reason == "Вода так і не з'явилася, кран сухий"

    [staff] = await world.outbox(f"fu:{followup.id}:staff")
    assert staff.chat == STAFF
    assert staff.urgent
    [note] = replies(staff)
    assert request.number in (note.title or "")
    assert "Ні" in note.text
    assert "кран сухий" in note.text
    # The staff chat also gets the fresh card and the resident the status update (service).
    keys = [m.idempotency_key for m in await messages(world.storage)]
    assert any(key.startswith(f"req:{request.id}:card:staff:") for key in keys)


async def test_yes_and_a_rating_are_stored_and_counted(world: World) -> None:
    request, alice = await world.asked()
    await alice.press("Так")
    assert [b.label for b in alice.last[0].all_buttons] == ["1", "2", "3", "4", "5"]
    await alice.press("4")
    await alice.say("Дякую, все швидко полагодили")
    async with world.storage.transaction() as session:
        followup = await session.followups.latest_for_request(request.id)
        answers = await session.stats.followup_answers(start=None, end=None)
        rating = await session.stats.rating_summary(start=None, end=None)
        still = await session.requests.get(request.id)
    assert followup is not None
    assert (followup.outcome, followup.rating, followup.comment) == (
        FollowupOutcome.YES,
        4,
        "Дякую, все швидко полагодили",
    )
    assert followup.status is FollowupStatus.ANSWERED
    assert answers == {"yes": 1}
    assert rating == (4.0, 1)
    assert still is not None
    assert still.status is Status.DONE


async def test_the_comment_can_be_skipped_and_a_second_answer_is_refused(world: World) -> None:
    request, alice = await world.asked()
    question = alice.last
    await alice.press("Так")
    await alice.press("5")
    await alice.press("Пропустити")
    assert "Дякуємо" in alice.text
    alice.last = question
    await alice.press("Ні")
    assert "вже відповіли" in alice.text
    async with world.storage.transaction() as session:
        still = await session.requests.get(request.id)
    assert still is not None
    assert still.status is Status.DONE


async def test_one_reminder_if_unanswered_and_none_after_an_answer(world: World) -> None:
    await world.asked()
    world.clock.advance(timedelta(hours=24))
    assert await world.tick() == 1
    world.clock.advance(timedelta(hours=24))
    assert await world.tick() == 0
    reminders = await world.outbox("fu:")
    assert [m.kind for m in reminders] == ["followup", "followup_reminder"]
    assert "Нагадуємо" in replies(reminders[1])[0].text

    _, bob = await world.asked(BOB)
    await bob.press("Так")
    world.clock.advance(timedelta(hours=25))
    await world.tick()
    assert [m.kind for m in await world.outbox("fu:") if m.chat == BOB] == ["followup"]


async def test_answers_are_locked_after_the_answer_window(world: World) -> None:
    request, alice = await world.asked()
    world.clock.advance(timedelta(days=7, minutes=1))
    await alice.press("Ні")
    assert "Час для відповіді" in alice.text
    async with world.storage.transaction() as session:
        followup = await session.followups.latest_for_request(request.id)
    assert followup is not None
    assert followup.outcome is None


async def test_no_follow_up_for_a_rejected_request(world: World) -> None:
    request = await file_request(world.storage, world.requests, ALICE, world.clock)
    await set_status(world.storage, world.requests, request.id, Status.REJECTED, "Не наша зона")
    world.clock.advance(DELAY * 10)
    assert await world.tick() == 0
    assert await world.outbox("fu:") == []


async def test_a_request_done_again_after_reopening_gets_a_new_follow_up(world: World) -> None:
    request, alice = await world.asked()
    await alice.press("Частково")
    await alice.say("Полагодили лише половину")
    world.clock.advance(timedelta(hours=3))
    await set_status(world.storage, world.requests, request.id, Status.IN_PROGRESS)
    await set_status(world.storage, world.requests, request.id, Status.DONE)
    world.clock.advance(DELAY)
    assert await world.tick() == 1
    asks = [m for m in await world.outbox("fu:") if m.kind == "followup"]
    assert len(asks) == 2


async def test_someone_elses_follow_up_is_answered_like_a_stale_button(world: World) -> None:
    request, _ = await world.asked()
    async with world.storage.transaction() as session:
        followup = await session.followups.latest_for_request(request.id)
    assert followup is not None
    bob = world.resident(BOB)
    await bob.send(Incoming(BOB, Kind.BUTTON, payload=build(ACTION_ANSWER, followup.id, "n")))
    assert "неактуальна" in bob.text
    async with world.storage.transaction() as session:
        again = await session.followups.get(followup.id)
    assert again is not None
    assert again.outcome is None


async def test_no_without_a_reason_reopens_after_the_wait(world: World) -> None:
    request, alice = await world.asked()
    await alice.press("Ні")
    await alice.say("/menu")  # the resident walks away without explaining
    world.clock.advance(timedelta(hours=1))
    await world.tick()
    async with world.storage.transaction() as session:
        assert (await session.requests.get(request.id)).status is Status.DONE  # type: ignore[union-attr]
    world.clock.advance(timedelta(hours=1))
    await world.tick()
    async with world.storage.transaction() as session:
        reopened = await session.requests.get(request.id)
        history = await session.requests.history(request.id)
    assert reopened is not None
    assert reopened.status is Status.REOPENED
    assert history[-1].note == "Мешканець не вказав причину."
    staff = [m for m in await world.outbox("fu:") if m.chat == STAFF]
    assert len(staff) == 1
    assert staff[0].status is OutboxStatus.PENDING
