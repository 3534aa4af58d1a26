"""Two instances on one PostgreSQL database race on the same rows: each read-modify-write of
the services holds, because the first instance's transaction is waited for (a row lock or the
resident's lock) instead of being read stale and overwritten.

Every test has the same shape: the first instance does its part and keeps its transaction
open for a moment; the second starts once the first is inside, and must wait for it. Two
``PostgresStorage`` objects on one schema are two processes as far as the database can tell;
each test runs again with one object, whose transactions are just as concurrent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Actor, Request, Status
from services.deadlines import DeadlineWatch
from services.followups import FollowupService, FollowupSettings
from services.open311 import Open311Service
from services.open311_params import IncomingUpdate
from services.relay import OUTBOX_KIND_STAFF, RelayService
from services.requests import RequestService
from services.routing import load_routing
from storage.base import ConversationState, Resident, StoreSession
from storage.followups import FollowupOutcome
from storage.open311 import ApiScope
from storage.postgres import PostgresStorage
from storage.relay import RelayDirection
from tests.postgres import postgres_instances, postgres_storage
from tests.test_services.helpers import (
    ALICE,
    STAFF,
    WATER,
    make_service,
    outbox_of,
    replies,
    resident,
    texts,
)

OPERATOR = Actor.operator("501", "Олена")
STAFF_TOPIC = UserRef(ChannelName.TELEGRAM, "-100777")
HOLD = 0.5  # how long the first instance keeps its transaction open

Work = Callable[[StoreSession], Awaitable[object]]


@pytest.fixture(params=["two processes", "one process"])
async def instances(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two storages on one schema (two processes), or one storage twice: a process's own
    transactions run concurrently too, so the same locks must hold between them."""
    if request.param == "two processes":
        async with postgres_instances() as both:
            yield both
        return
    async with postgres_storage() as one:
        yield one, one


async def race(
    instances: tuple[PostgresStorage, PostgresStorage], first_work: Work, second_work: Work
) -> None:
    """``first_work`` in a transaction of the first instance, kept open for ``HOLD`` seconds;
    ``second_work`` in one of the second, started once the first is inside. Both must
    succeed."""
    first, second = instances
    inside = asyncio.Event()

    async def one() -> None:
        async with first.transaction() as session:
            await first_work(session)
            inside.set()
            await asyncio.sleep(HOLD)

    async def two() -> None:
        await inside.wait()
        async with second.transaction() as session:
            await second_work(session)

    await asyncio.gather(one(), two())


async def filed(
    storage: PostgresStorage, service: RequestService, clock: ManualClock
) -> tuple[Resident, Request]:
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        request = await service.create(session, alice, WATER)
    return alice, request


@pytest.mark.timeout(60)
async def test_photos_added_to_one_request_on_two_instances_are_numbered_apart(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    _, request = await filed(instances[0], service, clock)  # photo-1, photo-2

    async def add_a(session: StoreSession) -> None:
        await session.requests.add_photos(request.id, ["a-1", "a-2"])

    async def add_b(session: StoreSession) -> None:
        await session.requests.add_photos(request.id, ["b-1"])

    # Without the request's row lock both read MAX(position) = 1 and the second collides on
    # the primary key (request_id, position).
    await race(instances, add_a, add_b)

    async with instances[1].transaction() as session:
        stored = await session.requests.get(request.id)
    assert stored is not None
    assert stored.photos == ("photo-1", "photo-2", "a-1", "a-2", "b-1")


@pytest.mark.timeout(60)
async def test_two_prompts_to_one_operator_on_two_instances_leave_one_open(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    _, request = await filed(instances[0], service, clock)

    def prompt(message_id: str) -> Work:
        async def add(session: StoreSession) -> None:
            await session.staff_prompts.add(
                chat_id="-100500",
                thread_id=None,
                prompt_message_id=message_id,
                user_id="501",
                action="reject",
                request_id=request.id,
                card_chat_id=None,
                card_message_id=None,
                now=clock.now(),
            )

        return add

    # Without the operator's lock each closes the prompts it can see (not the other's,
    # uncommitted) and both stay open.
    await race(instances, prompt("p-1"), prompt("p-2"))

    async with instances[1].transaction() as session:
        older = await session.staff_prompts.by_reply("-100500", "p-1")
        newer = await session.staff_prompts.by_reply("-100500", "p-2")
    assert older is None
    assert newer is not None


@pytest.mark.timeout(60)
async def test_the_sweep_and_a_new_message_forward_every_message_once(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    relay_service = RelayService(texts())
    first, _ = instances
    alice = await resident(first, ALICE, clock)
    async with first.transaction() as session:
        relay, _ = await relay_service.open(session, alice, now=clock.now())
        await relay_service.from_resident(
            session, relay, text="перше", photo_ref=None, now=clock.now()
        )
        await relay_service.forward(session, relay.id, STAFF_TOPIC, now=clock.now())
        # Left pending although its place is known (a crash after the commit): the sweep's.
        await session.relay.add_message(
            relay.id, RelayDirection.IN, text="друге", photo_ref=None, now=clock.now()
        )

    async def sweep(session: StoreSession) -> None:
        assert await relay_service.forward(session, relay.id, STAFF_TOPIC, now=clock.now()) == 1

    async def new_message(session: StoreSession) -> None:
        current = await session.relay.get(relay.id)
        assert current is not None
        await relay_service.from_resident(
            session, current, text="третє", photo_ref=None, now=clock.now()
        )

    # Without the lock the new message's forward reads "друге" as still pending too: its
    # outbox key (that of the first pending message) is the sweep's, so it is dropped as a
    # duplicate, and "третє" is marked forwarded without ever being queued.
    await race(instances, sweep, new_message)

    said = [
        reply.text
        for message in await outbox_of(first)
        if message.kind == OUTBOX_KIND_STAFF
        for reply in replies(message)
        if reply.text in {"перше", "друге", "третє"}
    ]
    assert said == ["перше", "друге", "третє"]
    async with first.transaction() as session:
        assert await session.relay.pending(relay.id) == []


@pytest.mark.timeout(60)
async def test_a_request_acknowledged_while_the_deadline_job_runs_is_not_escalated(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    _, request = await filed(instances[0], service, clock)
    watch = DeadlineWatch(load_routing(), texts(), clock, staff_chat=STAFF, requests=service)
    clock.advance(request.ack_due - clock.now() + timedelta(minutes=1))
    escalated: list[int] = []

    async def acknowledge(session: StoreSession) -> None:
        await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)

    async def job(session: StoreSession) -> None:
        escalated.append(await watch.escalate_due(session))

    # Without the lock the job escalates what it listed before the acknowledgement committed.
    await race(instances, acknowledge, job)

    assert escalated == [0]
    kinds = {message.kind for message in await outbox_of(instances[0])}
    assert "deadline_escalation" not in kinds


@pytest.mark.timeout(60)
async def test_a_follow_up_answered_while_the_reminder_job_runs_is_not_reminded(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    first, _ = instances
    _, request = await filed(first, service, clock)
    followups = FollowupService(
        service, texts(), clock, staff_chat=STAFF, settings=FollowupSettings()
    )
    async with first.transaction() as session:
        await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)
        await service.change_status(session, request.id, Status.DONE, OPERATOR)
    clock.advance(timedelta(hours=25))
    async with first.transaction() as session:
        assert await followups.ask_due(session) == 1
        followup = await session.followups.latest_for_request(request.id)
    assert followup is not None
    clock.advance(timedelta(hours=25))
    reminded: list[int] = []

    async def answer(session: StoreSession) -> None:
        assert await followups.record_outcome(session, followup, FollowupOutcome.YES)

    async def job(session: StoreSession) -> None:
        reminded.append(await followups.remind_due(session))

    # Without the check the job reminds a resident whose answer committed a moment before.
    await race(instances, answer, job)

    assert reminded == [0]
    kinds = [message.kind for message in await outbox_of(first)]
    assert "followup_reminder" not in kinds


@pytest.mark.timeout(60)
async def test_an_erasure_racing_the_last_status_change_erases_the_closed_request(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    first, _ = instances
    alice, request = await filed(first, service, clock)
    async with first.transaction() as session:
        await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)

    async def done(session: StoreSession) -> None:
        await service.change_status(session, request.id, Status.DONE, OPERATOR)

    async def erase(session: StoreSession) -> None:
        # As the conversation does it: the resident's lock first, then the erasure.
        await session.lock_resident(ALICE)
        await session.privacy.erase_resident(alice.id, now=clock.now())

    # Without the resident's lock in the status change, the erasure reads the request as
    # still open and keeps it for later; the change to done has already passed the point
    # where it would have finished the erasure: the address stays forever.
    await race(instances, done, erase)

    async with first.transaction() as session:
        stored = await session.requests.get(request.id)
    assert stored is not None
    assert stored.status is Status.DONE
    assert stored.address is None
    assert stored.photos == ()


@pytest.mark.timeout(60)
async def test_a_state_saved_while_retention_forgets_old_states_is_kept(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    first, _ = instances
    alice = await resident(first, ALICE, clock)
    async with first.transaction() as session:
        await session.conversations.save(alice.id, ConversationState("old"), now=clock.now())
    clock.advance(timedelta(days=60))
    cutoff = clock.now() - timedelta(days=30)
    forgotten: list[int] = []

    async def message(session: StoreSession) -> None:
        # The resident writes again: their state is saved anew (its row locked till commit).
        await session.lock_resident(ALICE)
        await session.conversations.save(alice.id, ConversationState("fresh"), now=clock.now())

    async def retention(session: StoreSession) -> None:
        forgotten.append(await session.retention.forget_conversations(before=cutoff, limit=100))

    # Without ``updated_at`` checked on the deleted row, the old state the subquery saw is
    # deleted after the fresh one committed over it: the resident's new step is lost.
    await race(instances, message, retention)

    assert forgotten == [0]
    async with first.transaction() as session:
        state = await session.conversations.load(alice.id)
    assert state.step == "fresh"


@pytest.mark.timeout(60)
async def test_one_open311_update_posted_to_two_instances_is_applied_once(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    service = make_service(clock)
    first, _ = instances
    _, request = await filed(first, service, clock)
    api = Open311Service(service)
    async with first.transaction() as session:
        key = await session.open311.create_key(
            "back-office", ApiScope.WRITE, "hash-1", now=clock.now()
        )
    update = IncomingUpdate(
        update_id="bo-17",
        request_id=request.id,
        status="closed",
        description="Трубу замінено",
        updated_at=clock.now(),
    )
    results: list[tuple[object, bool]] = []

    async def post(session: StoreSession) -> None:
        results.append(await api.post_update(session, key, update))

    # Without the request locked before the update_id is looked up, the second finds no
    # posted update, then (the request being done by then) refuses done -> done with a 400.
    await race(instances, post, post)

    assert [changed for _, changed in results] == [True, False]
    assert results[0][0] == results[1][0]
    async with first.transaction() as session:
        history = await session.requests.history(request.id)
    assert [entry.to_status for entry in history].count(Status.DONE) == 1
