"""'My requests', details by number, isolation between residents, answering a question."""

from __future__ import annotations

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, Incoming, Kind, UserRef
from domain.payloads import build
from domain.requests import Actor, EventKind, Status
from fakes.recording import Resident
from services.codec import decode_replies
from services.requests import RequestService
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_handlers.requests_helpers import file_water_request, make_conversation
from tests.test_services.helpers import STAFF, make_service

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

OPERATOR = Actor.operator(42, "Олена")


@pytest.fixture
def service(clock: ManualClock) -> RequestService:
    return make_service(clock)


@pytest.fixture
def alice(storage: SqliteStorage, clock: ManualClock, service: RequestService) -> Resident:
    conversation = make_conversation(storage, clock, service=service)
    return Resident(conversation, UserRef(ChannelName.TELEGRAM, "701"))


@pytest.fixture
def bob(storage: SqliteStorage, clock: ManualClock, service: RequestService) -> Resident:
    conversation = make_conversation(storage, clock, service=service)
    return Resident(conversation, UserRef(ChannelName.VIBER, "702"))


async def my(resident: Resident) -> None:
    await resident.send(Incoming(resident.user, Kind.BUTTON, payload=build("req_my")))


async def test_no_requests_yet(alice: Resident) -> None:
    await my(alice)
    assert "ще немає заявок" in alice.text
    assert any("Нова заявка" in label for label in alice.labels)


async def test_the_list_shows_number_category_status_and_deadline(
    alice: Resident, storage: SqliteStorage, service: RequestService, clock: ManualClock
) -> None:
    await file_water_request(alice)
    clock.advance(60)
    await file_water_request(alice)
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.IN_PROGRESS, OPERATOR)
        await service.change_status(session, 2, Status.REJECTED, OPERATOR, "дубль")
    await alice.press("Мої заявки")
    text = alice.text
    assert "1520-000001" in text
    assert "1520-000002" in text
    assert text.index("1520-000002") < text.index("1520-000001")  # newest first
    assert "В роботі · строк до 26.11.2026 14:00" in text
    assert "Відхилено" in text
    assert "Водопостачання" in text
    assert "📄 1520-000001 · В роботі" in alice.labels


async def test_details_show_the_history_in_words(
    alice: Resident, storage: SqliteStorage, service: RequestService, clock: ManualClock
) -> None:
    await file_water_request(alice)
    clock.advance(600)
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.ACCEPTED, OPERATOR)
    await alice.press("Мої заявки")
    await alice.press("1520-000001")
    assert "Заявка 1520-000001" in [r.title for r in alice.last]
    assert "25.11.2026 14:00 — Заявку подано" in alice.text
    assert "25.11.2026 14:10 — Прийнято" in alice.text
    assert "Олена" not in alice.text  # staff names stay with staff
    assert "вул. Світлогірська, 10" in alice.text


async def test_details_show_the_residents_own_feedback_but_not_escalations(
    alice: Resident, storage: SqliteStorage, service: RequestService
) -> None:
    await file_water_request(alice)
    async with storage.transaction() as session:
        await service.record_escalation(session, 1, "ack")
        await service.change_status(session, 1, Status.DONE, OPERATOR)
        await service.record_followup(session, 1, "yes", Actor.resident(1))
        await service.record_rating(session, 1, 5, Actor.resident(1))
        request = await service.get(session, 1)
        assert request is not None
        history = await service.history(session, 1)
    staff_card = service.render_card(request, history, shown_in=ChannelName.TELEGRAM)
    await alice.press("Мої заявки")
    await alice.press("1520-000001")
    assert "Заявник підтвердив виконання" in alice.text
    assert "Оцінка заявника: ★★★★★ 5/5" in alice.text
    assert "Прострочено" not in alice.text  # an escalation is the staff's business
    assert "Прострочено строк прийняття" in staff_card.text


@pytest.mark.parametrize("typed", ["1520-000001", "1", "000001", "№ 1520 000001", "1520000001"])
async def test_typing_a_number_in_the_list_opens_it(alice: Resident, typed: str) -> None:
    await file_water_request(alice)
    await my(alice)
    await alice.say(typed)
    assert "Заявка 1520-000001" in [r.title for r in alice.last]


async def test_another_residents_number_looks_like_a_missing_one(
    alice: Resident, bob: Resident
) -> None:
    await file_water_request(alice)
    await my(bob)
    await bob.say("1520-000001")
    theirs = bob.text
    await bob.say("1520-000099")
    missing = bob.text
    assert "не знайдено" in theirs
    assert theirs.replace("000001", "") == missing.replace("000099", "")
    assert "Світлогірська" not in theirs


@pytest.mark.parametrize(
    "payload",
    # Raw payloads: built at collection time, before any feature registered its actions.
    ["v1:rq:open:1", "v1:rq:ans:1", "v1:rq:open:1520-000001", "v1:rq:open:-1"],
)
async def test_forged_buttons_show_nothing_of_others(
    alice: Resident, bob: Resident, payload: str
) -> None:
    await file_water_request(alice)
    await bob.send(Incoming(bob.user, Kind.BUTTON, payload=payload))
    assert "не знайдено" in bob.text
    assert "Світлогірська" not in bob.text
    assert "Водопостачання" not in bob.text


async def test_isolation_over_every_form_of_the_number(alice: Resident, bob: Resident) -> None:
    for _ in range(3):
        await file_water_request(alice)
    await my(bob)
    for request_id in (1, 2, 3):
        for typed in (
            f"1520-{request_id:06d}",
            str(request_id),
            f"{request_id:06d}",
            f"#{request_id}",
            f"1520 {request_id:06d}",
        ):
            await bob.say(typed)
            assert "не знайдено" in bob.text
            assert "Світлогірська" not in bob.text
    await my(bob)
    assert "ще немає заявок" in bob.text


async def test_other_text_in_the_list_is_not_taken_as_a_number(alice: Resident) -> None:
    await my(alice)
    replies = await alice.say("де найближче укриття")
    # Not for this feature: the engine falls back (here: not understood, no consult feature).
    assert "не знайдено" not in replies[0].text


# --- answering a question ---------------------------------------------------------------------


async def test_an_idle_residents_next_message_is_the_answer(
    alice: Resident, storage: SqliteStorage, service: RequestService
) -> None:
    await file_water_request(alice)
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.NEEDS_INFO, OPERATOR, "Який під'їзд?")
    await alice.say("Другий під'їзд, квартира 17")
    assert "передано виконавцю" in alice.text
    async with storage.transaction() as session:
        history = await service.history(session, 1)
        forwarded = [
            m
            for m in await session.outbox.list(status=OutboxStatus.PENDING, limit=50)
            if m.kind == "answer"
        ]
    assert (history[-1].event, history[-1].note) == (
        EventKind.ANSWER,
        "Другий під'їзд, квартира 17",
    )
    assert [m.chat for m in forwarded] == [STAFF]
    # The next message is an ordinary one again.
    await alice.say("дякую")
    assert "передано" not in alice.text


async def test_the_answer_button_of_the_status_message(
    alice: Resident, storage: SqliteStorage, service: RequestService
) -> None:
    await file_water_request(alice)
    await alice.press("Мої заявки")  # not idle: the question will not capture the next text
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.NEEDS_INFO, OPERATOR, "Який під'їзд?")
        status = await session.outbox.by_key("req:1:status:2")
    assert status is not None
    (message,) = decode_replies(status.body)
    answer = next(b for b in message.all_buttons if "Відповісти" in b.label)
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=answer.payload))
    assert "Який під'їзд?" in alice.text
    await alice.send(Incoming(alice.user, Kind.STICKER))
    assert "текстом" in alice.text
    await alice.say("Третій")
    assert "передано виконавцю" in alice.text


async def test_details_of_a_request_waiting_for_an_answer(
    alice: Resident, storage: SqliteStorage, service: RequestService
) -> None:
    await file_water_request(alice)
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.NEEDS_INFO, OPERATOR, "Який під'їзд?")
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("rq", "open", 1)))
    assert "Запитання до вас: «Який під'їзд?»" in alice.text
    await alice.press("Відповісти")
    await alice.say("Перший")
    assert "передано виконавцю" in alice.text


async def test_answering_after_the_question_was_settled(
    alice: Resident, storage: SqliteStorage, service: RequestService
) -> None:
    await file_water_request(alice)
    async with storage.transaction() as session:
        await service.change_status(session, 1, Status.NEEDS_INFO, OPERATOR, "Який під'їзд?")
        await service.change_status(session, 1, Status.IN_PROGRESS, OPERATOR)
    await alice.say("Перший")
    assert "не потрібно відповідати" in alice.text
    assert "В роботі" in alice.text
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("rq", "ans", 1)))
    assert "не потрібно відповідати" in alice.text


async def test_looking_at_the_list_keeps_an_unfinished_intake(alice: Resident) -> None:
    await file_water_request(alice)
    await alice.press("Головне меню")
    await alice.press("Нова заявка")
    await alice.press("Опалення")
    await my(alice)
    assert "1520-000001" in alice.text
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("req_new")))
    assert "незавершена заявка (🔥 Опалення)" in alice.text
    await alice.press("Продовжити")
    assert "районі" in alice.text
