"""The request service against a real SQLite file: routing, deadlines, history, the outbox."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.clock import ManualClock
from domain.payloads import MAX_BYTES, parse
from domain.requests import (
    TRANSITIONS,
    Actor,
    EventKind,
    InvalidTransition,
    MissingNote,
    Request,
    RequestNotFound,
    Status,
    StatusChange,
)
from handlers.requests.answer import AwaitAnswer
from handlers.requests.common import S_ANSWER
from services.request_limits import InvalidDraft, NotAwaitingAnswer, UnknownExecutor
from services.requests import RequestService
from services.routing import DEFAULT_ROUTING_FILE, parse_routing
from storage.base import ConversationState, Storage, StoreSession
from storage.sqlite import SqliteStorage
from tests.test_services.helpers import (
    ALICE,
    BOB,
    ROADS,
    STAFF,
    WATER,
    make_service,
    outbox,
    outbox_of,
    replies,
    resident,
)

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

OPERATOR = Actor.operator(42, "Олена")


async def file_water(storage: Storage, clock: ManualClock, service: RequestService) -> Request:
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        return await service.create(session, alice, WATER)


# --- create -----------------------------------------------------------------------------------


async def test_create_routes_and_computes_deadlines_from_the_clock(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    assert request.number == f"1520-{request.id:06d}"
    assert request.executor_id == "city_water"
    assert request.urgent
    assert request.service_class == "urgent"
    assert request.created_at == clock.now()
    assert request.ack_due == clock.now() + timedelta(hours=2)
    assert request.resolve_due == clock.now() + timedelta(hours=24)
    assert request.phone == "+380671234567"
    assert request.status is Status.NEW
    async with storage.transaction() as session:
        history = await service.history(session, request.id)
    assert [(h.event, h.to_status, h.actor.kind.value) for h in history] == [
        (EventKind.CREATED, Status.NEW, "resident")
    ]


async def test_a_later_clock_gives_later_deadlines(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    first = await file_water(storage, clock, service)
    clock.advance(timedelta(hours=5))
    second = await file_water(storage, clock, service)
    assert second.resolve_due - first.resolve_due == timedelta(hours=5)
    assert second.id == first.id + 1


async def test_create_puts_the_card_in_the_outbox(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    messages = await outbox_of(storage)
    assert [(m.kind, m.chat, m.urgent, m.idempotency_key) for m in messages] == [
        ("card", STAFF, True, f"req:{request.id}:card:staff")
    ]
    card, second_photo = replies(messages[0])
    assert card.title is not None
    assert request.number in card.title
    assert "ТЕРМІНОВО" in card.title
    # Resident text is data: kept as plain text, escaping is the adapter's job.
    assert "<b>у всьому будинку</b>" in card.text
    for fragment in (
        "Водопостачання",
        "Тернівський",
        "Світлогірська, 10",
        "+380671234567",
        "Міське підприємство водопостачання",
        "Фото: 2",
        "Telegram",
    ):
        assert fragment in card.text
    assert card.photo is not None
    assert card.photo.ref == "photo-1"
    assert second_photo.photo is not None
    assert second_photo.photo.ref == "photo-2"
    labels = [button.label for button in card.all_buttons]
    assert labels == [
        "Прийнято",
        "В роботі",
        "Виконано",
        "Відхилено",
        "Потрібна інформація",
        "Виконавець",
    ]
    for button in card.all_buttons:
        assert len(button.payload.encode()) <= MAX_BYTES
        payload = parse(button.payload)
        assert payload is not None
        assert payload.arg(0) == str(request.id)
    statuses = [parse(b.payload).arg(1) for b in card.all_buttons[:5]]  # type: ignore[union-attr]
    assert statuses == ["accepted", "in_progress", "done", "rejected", "needs_info"]
    assert parse(card.all_buttons[5].payload).action == "asg"  # type: ignore[union-attr]


async def test_a_location_rides_on_the_card(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        request = await service.create(session, alice, ROADS)
    assert request.executor_id == "vykonkom_pokrovskyi"
    assert not request.urgent
    (card,) = replies((await outbox_of(storage))[0])
    assert card.location is not None
    assert (card.location.latitude, card.location.longitude) == (47.95, 33.42)
    assert "Геолокація: 47.95000, 33.42000" in card.text
    assert card.photo is None
    assert "ТЕРМІНОВО" not in (card.title or "")


async def test_the_executor_chat_gets_its_own_card(storage: Storage, clock: ManualClock) -> None:
    text = DEFAULT_ROUTING_FILE.read_text(encoding="utf-8").replace(
        '    name: "Міське підприємство водопостачання та водовідведення"',
        '    name: "Міське підприємство водопостачання та водовідведення"\n'
        "    telegram_chat_id: -100777",
    )
    service = make_service(clock, routing=parse_routing(text))
    request = await file_water(storage, clock, service)
    chats = {m.chat.user_id: m.idempotency_key for m in await outbox_of(storage)}
    assert chats == {
        "-100500": f"req:{request.id}:card:staff",
        "-100777": f"req:{request.id}:card:exec:city_water",
    }


async def test_without_a_staff_chat_nothing_is_queued(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock, staff=None)
    await file_water(storage, clock, service)
    assert await outbox_of(storage) == []


async def test_a_failure_rolls_back_the_request_and_its_card(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    alice = await resident(storage, ALICE, clock)
    with pytest.raises(RuntimeError):
        async with storage.transaction() as session:
            await service.create(session, alice, WATER)
            raise RuntimeError("the transaction fails after the request was written")
    async with storage.transaction() as session:
        assert await service.list_for_resident(session, alice.id) == []
        assert await outbox(session) == []


@pytest.mark.parametrize(
    "draft",
    [
        replace(WATER, description="   "),
        replace(WATER, description="x" * 5000),
        replace(WATER, address="a" * 400),
        replace(WATER, latitude=47.9),
        replace(WATER, photos=tuple(f"p{i}" for i in range(11))),
        replace(WATER, phone="12345"),
    ],
)
async def test_bad_drafts_are_refused(storage: Storage, clock: ManualClock, draft: object) -> None:
    service = make_service(clock)
    alice = await resident(storage, ALICE, clock)
    with pytest.raises((InvalidDraft, ValueError)):
        async with storage.transaction() as session:
            await service.create(session, alice, draft)  # type: ignore[arg-type]


# --- status changes ---------------------------------------------------------------------------


async def test_accepting_tells_the_resident_in_their_language(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    clock.advance(600)
    async with storage.transaction() as session:
        accepted = await service.change_status(session, request.id, Status.ACCEPTED, OPERATOR)
        history = await service.history(session, request.id)
        messages = await outbox(session)
    assert accepted.status is Status.ACCEPTED
    assert accepted.acknowledged_at == clock.now()
    change = history[-1]
    assert (change.event, change.from_status, change.to_status) == (
        EventKind.STATUS,
        Status.NEW,
        Status.ACCEPTED,
    )
    assert change.actor == OPERATOR
    status = messages[-1]
    assert (status.kind, status.chat, status.resident_id, status.urgent) == (
        "status",
        ALICE,
        request.resident_id,
        False,
    )
    assert status.idempotency_key == f"req:{request.id}:status:{change.id}"
    (reply,) = replies(status)
    assert request.number in reply.text
    assert "прийнято" in reply.text
    assert "26.11.2026 14:00" in reply.text  # the deadline in Kyiv time


async def test_an_english_speaking_resident_is_told_in_english(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    bob = await resident(storage, BOB, clock, language="en")
    async with storage.transaction() as session:
        request = await service.create(session, bob, ROADS)
        await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)
        status = (await outbox(session))[-1]
    assert status.chat == BOB
    assert "Work has started" in replies(status)[0].text


async def test_an_invalid_transition_changes_nothing(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        await service.change_status(session, request.id, Status.DONE, OPERATOR)
    before = await outbox_of(storage)
    async with storage.transaction() as session:
        with pytest.raises(InvalidTransition):
            await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)
        found = await service.get(session, request.id)
        history = await service.history(session, request.id)
    assert found is not None
    assert found.status is Status.DONE
    assert len(history) == 2
    assert await outbox_of(storage) == before


async def test_done_sets_done_at(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    clock.advance(3600)
    async with storage.transaction() as session:
        done = await service.change_status(
            session, request.id, Status.DONE, OPERATOR, note="Подачу води відновлено"
        )
        (reply,) = replies((await outbox(session))[-1])
    assert done.done_at == clock.now()
    assert done.acknowledged_at == clock.now()
    assert "виконано" in reply.text
    assert "Подачу води відновлено" in reply.text


async def test_rejection_needs_and_carries_a_reason(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        with pytest.raises(MissingNote):
            await service.change_status(session, request.id, Status.REJECTED, OPERATOR, "  ")
        await service.change_status(
            session, request.id, Status.REJECTED, OPERATOR, "Це приватна територія"
        )
        (reply,) = replies((await outbox(session))[-1])
    assert "відхилено" in reply.text
    assert "Це приватна територія" in reply.text


async def test_unknown_request(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    async with storage.transaction() as session:
        with pytest.raises(RequestNotFound):
            await service.change_status(session, 999, Status.ACCEPTED, OPERATOR)
        with pytest.raises(RequestNotFound):
            await service.assign(session, 999, "city_water", OPERATOR)
        assert await service.get(session, 999) is None


async def test_a_question_goes_to_the_resident_with_an_answer_button(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    service.add_observer(AwaitAnswer())  # as the conversation's answer feature registers it
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        with pytest.raises(MissingNote):
            await service.change_status(session, request.id, Status.NEEDS_INFO, OPERATOR)
        await service.change_status(
            session, request.id, Status.NEEDS_INFO, OPERATOR, "Який номер квартири?"
        )
        (reply,) = replies((await outbox(session))[-1])
        state = await session.conversations.load(request.resident_id)
    assert "Який номер квартири?" in reply.text
    answer = parse(reply.all_buttons[0].payload)
    assert answer is not None
    assert (answer.action, answer.args) == ("rq", ("ans", str(request.id)))
    # The resident was idle: their next message will be the answer.
    assert (state.step, state.data) == (S_ANSWER, {"request_id": request.id})


async def test_reassigning_a_request_that_waits_for_an_answer_leaves_the_resident_alone(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    service.add_observer(AwaitAnswer())
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        await service.change_status(session, request.id, Status.NEEDS_INFO, OPERATOR, "Під'їзд?")
        # The resident answered (or left the step): they are idle, the request still waits.
        await session.conversations.save(
            request.resident_id, ConversationState("idle", {}), now=clock.now()
        )
        await service.assign(session, request.id, "social_policy", OPERATOR)
        state = await session.conversations.load(request.resident_id)
    assert state.step == "idle"


async def test_a_question_does_not_break_a_resident_in_another_flow(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    service.add_observer(AwaitAnswer())
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        await session.conversations.save(
            request.resident_id, ConversationState("req.address", {"d": {}}), now=clock.now()
        )
        await service.change_status(session, request.id, Status.NEEDS_INFO, OPERATOR, "Під'їзд?")
        state = await session.conversations.load(request.resident_id)
    assert state.step == "req.address"


async def test_the_answer_comes_back_to_staff(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    alice = await resident(storage, ALICE, clock)
    bob = await resident(storage, BOB, clock)
    async with storage.transaction() as session:
        with pytest.raises(NotAwaitingAnswer):
            await service.answer_info(session, request.id, alice, "квартира 5")
        await service.change_status(
            session, request.id, Status.NEEDS_INFO, OPERATOR, "Який номер квартири?"
        )
    async with storage.transaction() as session:
        with pytest.raises(RequestNotFound):
            await service.answer_info(session, request.id, bob, "я не власник")
        change = await service.answer_info(session, request.id, alice, "  квартира 5  ")
        forwarded = (await outbox(session))[-1]
        found = await service.get(session, request.id)
    assert (change.event, change.note, change.actor) == (
        EventKind.ANSWER,
        "квартира 5",
        Actor.resident(alice.id),
    )
    assert found is not None
    assert found.status is Status.NEEDS_INFO  # staff decide what comes next
    assert (forwarded.kind, forwarded.chat, forwarded.urgent) == ("answer", STAFF, True)
    (reply,) = replies(forwarded)
    assert "Який номер квартири?" in reply.text
    assert "квартира 5" in reply.text
    assert request.number in (reply.title or "")
    assert "bob" not in forwarded.body


async def test_reopen_gives_fresh_deadlines(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        with pytest.raises(InvalidTransition):
            await service.reopen(session, request.id, OPERATOR, "ще раз")
        await service.change_status(session, request.id, Status.DONE, OPERATOR)
    clock.advance(timedelta(days=3))
    async with storage.transaction() as session:
        with pytest.raises(MissingNote):
            await service.reopen(session, request.id, Actor.resident(request.resident_id), "")
        reopened = await service.reopen(
            session, request.id, Actor.resident(request.resident_id), "Води досі немає"
        )
        messages = await outbox(session)
    assert reopened.status is Status.REOPENED
    assert reopened.ack_due == clock.now() + timedelta(hours=2)
    assert reopened.resolve_due == clock.now() + timedelta(hours=24)
    assert (reopened.done_at, reopened.acknowledged_at) == (None, None)
    kinds = [(m.kind, m.chat) for m in messages[-2:]]
    assert kinds == [("status", ALICE), ("card", STAFF)]
    assert "Води досі немає" in replies(messages[-2])[0].text


async def test_change_status_to_reopened_is_reopen(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        await service.change_status(session, request.id, Status.REJECTED, OPERATOR, "дубль")
        again = await service.change_status(
            session, request.id, Status.REOPENED, OPERATOR, "не дубль"
        )
    assert again.status is Status.REOPENED


async def test_assign(storage: Storage, clock: ManualClock) -> None:
    text = DEFAULT_ROUTING_FILE.read_text(encoding="utf-8").replace(
        '    name: "Департамент соціальної політики виконкому міської ради"',
        '    name: "Департамент соціальної політики виконкому міської ради"\n'
        "    telegram_chat_id: -100888",
    )
    service = make_service(clock, routing=parse_routing(text))
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        with pytest.raises(UnknownExecutor):
            await service.assign(session, request.id, "nobody", OPERATOR)
        same = await service.assign(session, request.id, "city_water", OPERATOR)
        moved = await service.assign(session, request.id, "social_policy", OPERATOR)
        history = await service.history(session, request.id)
        messages = await outbox(session)
    assert same == request
    assert moved.executor_id == "social_policy"
    assert (history[-1].event, history[-1].note) == (EventKind.ASSIGNED, "social_policy")
    assert messages[-1].chat.user_id == "-100888"
    assert messages[-1].kind == "card"
    (card, _photo) = replies(messages[-1])
    assert "Департамент соціальної політики" in card.text


async def test_observers_see_every_change(storage: Storage, clock: ManualClock) -> None:
    seen: list[tuple[int, EventKind, Status]] = []

    class Recorder:
        async def request_changed(
            self, session: StoreSession, request: Request, change: StatusChange
        ) -> None:
            seen.append((request.id, change.event, request.status))

    service = make_service(clock)
    service.add_observer(Recorder())
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR)
        await service.assign(session, request.id, "contact_center", OPERATOR)
    assert seen == [
        (request.id, EventKind.CREATED, Status.NEW),
        (request.id, EventKind.STATUS, Status.IN_PROGRESS),
        (request.id, EventKind.ASSIGNED, Status.IN_PROGRESS),
    ]


# --- reading ----------------------------------------------------------------------------------


async def test_find_by_phone_or_number(storage: Storage, clock: ManualClock) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    async with storage.transaction() as session:
        for query in ("+380671234567", "0671234567", "+38 (067) 123-45-67"):
            assert [r.id for r in await service.find(session, query)] == [request.id]
        for query in (request.number, str(request.id), f"№ {request.number}"):
            assert [r.id for r in await service.find(session, query)] == [request.id]
        assert await service.find(session, "0501112233") == []
        assert await service.find(session, "щось") == []
        assert await service.find(session, "") == []
        assert await service.find(session, "1520-999999") == []


async def test_find_by_a_foreign_phone_as_the_form_accepts_it(
    storage: Storage, clock: ManualClock
) -> None:
    # A returnee with a foreign SIM files with +48...; staff must find it however they type it.
    service = make_service(clock)
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        request = await service.create(session, alice, replace(WATER, phone="+48512345678"))
    async with storage.transaction() as session:
        for query in ("+48512345678", "+48 512 345 678", "0048512345678"):
            assert [r.id for r in await service.find(session, query)] == [request.id]
        assert await service.find(session, "+48512345679") == []


async def test_a_resident_never_gets_another_residents_request(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    alice = await resident(storage, ALICE, clock)
    bob = await resident(storage, BOB, clock)
    async with storage.transaction() as session:
        assert await service.get_for_resident(session, alice.id, request.number) == request
        assert await service.get_for_resident(session, alice.id, request.id) == request
        for query in (request.number, str(request.id), request.id, "1520-000000", "x", 0, -1):
            assert await service.get_for_resident(session, bob.id, query) is None
        assert await service.list_for_resident(session, bob.id) == []


# --- property: random operator actions follow the transition table ----------------------------

ACTIONS = st.lists(st.sampled_from([s for s in Status if s is not Status.NEW]), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ACTIONS)
def test_random_status_sequences_match_the_table(steps: list[Status]) -> None:
    async def scenario() -> None:
        clock = ManualClock()
        with tempfile.TemporaryDirectory() as folder:
            storage = await SqliteStorage.open(Path(folder) / "prop.sqlite3")
            try:
                service = make_service(clock)
                request = await file_water(storage, clock, service)
                expected = Status.NEW
                for wanted in steps:
                    clock.advance(60)
                    try:
                        async with storage.transaction() as session:
                            changed = await service.change_status(
                                session, request.id, wanted, OPERATOR, note="примітка"
                            )
                    except InvalidTransition:
                        assert wanted not in TRANSITIONS[expected]
                    else:
                        assert wanted in TRANSITIONS[expected]
                        assert changed.status is wanted
                        expected = wanted
                    async with storage.transaction() as session:
                        found = await service.get(session, request.id)
                        history = await service.history(session, request.id)
                        statuses = [m for m in await outbox(session) if m.kind == "status"]
                    assert found is not None
                    assert found.status is expected
                    # One history entry and one resident message per successful change.
                    assert len(history) == len(statuses) + 1
                    assert history[-1].to_status is expected
                    assert (found.done_at is not None) == (expected is Status.DONE)
            finally:
                await storage.close()

    asyncio.run(scenario())


async def test_a_failure_rolls_back_the_status_and_its_message(
    storage: Storage, clock: ManualClock
) -> None:
    service = make_service(clock)
    request = await file_water(storage, clock, service)
    before = await outbox_of(storage)
    with pytest.raises(RuntimeError):
        async with storage.transaction() as session:
            await service.change_status(session, request.id, Status.DONE, OPERATOR)
            raise RuntimeError("the transaction fails after the status changed")
    async with storage.transaction() as session:
        found = await service.get(session, request.id)
        history = await service.history(session, request.id)
    assert found is not None
    assert found.status is Status.NEW
    assert len(history) == 1
    assert await outbox_of(storage) == before
