"""Every copy of a card stays true (issue 15), end to end over real HTTP: a water request's card
goes to the staff chat and to the water company's own chat; whoever changes the request (an
operator in either chat, the deadline job, the resident's follow-up), every copy is edited
through the outbox and the fake Bot API records the edit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Actor, Category, District, RequestDraft, Status
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from fakes.telegram_updates import group_message_update
from services.deadlines import DeadlineWatch
from services.followups import FollowupService, FollowupSettings
from storage.followups import FollowupOutcome
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_bot.test_staff_e2e import WATER_CHAT, WATER_WORKER, routing_with_water_chat
from tests.test_bot.test_staff_harness import (
    OPERATOR,
    STAFF_CHAT,
    StaffWorld,
    called,
    make_world,
    sent_to,
    server,
    texts,
)

__all__ = ["server"]  # the fixture, imported for pytest

DRAFT = RequestDraft(
    category=Category.WATER,
    description="Немає води з ранку",
    district=District.TERNIVSKYI,
    address="вул. Світлогірська, 10",
    phone="067 123 45 67",
)
STAFF = UserRef(ChannelName.TELEGRAM, str(STAFF_CHAT))
EDITS = ("editMessageText", "editMessageCaption")


@pytest.fixture
async def world(
    server: FakeTelegramServer, storage: SqliteStorage, clock: ManualClock
) -> AsyncIterator[StaffWorld]:
    server.add_chat(WATER_CHAT, type="supergroup", title="Водоканал")
    server.chat_members[(WATER_CHAT, WATER_WORKER)] = "member"
    world = await make_world(server, storage, clock, forum=False, routing=routing_with_water_chat())
    try:
        yield world
    finally:
        await world.stop()


async def two_cards(world: StaffWorld) -> tuple[int, dict[int, int]]:
    """A water request filed and delivered: its id and its card message per chat."""
    request = await world.file_request(DRAFT)
    mark = len(world.server.calls)
    await world.deliver()
    cards = {}
    for chat in (STAFF_CHAT, WATER_CHAT):
        [card] = [c for c in world.server.calls[mark:] if sent_to(chat)(c) and c.button_data]
        cards[chat] = int(card.result["message_id"])
    return request.id, cards


def edits(world: StaffWorld, mark: int, chat: int) -> list[RecordedCall]:
    return [c for c in world.server.calls[mark:] if c.method in EDITS and c.chat_id == chat]


def shown(world: StaffWorld, chat: int, message_id: int) -> str:
    message = world.server.message(chat, message_id) or {}
    return str(message.get("text") or message.get("caption") or "")


async def test_a_status_pressed_in_the_executor_chat_edits_the_staff_copy(
    world: StaffWorld,
) -> None:
    server = world.server
    _, cards = await two_cards(world)
    mark = len(server.calls)
    server.press_button(WATER_CHAT, cards[WATER_CHAT], text="В роботі", user_id=WATER_WORKER)
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert not answer.params.get("show_alert")
    assert "Статус: В роботі" in shown(world, WATER_CHAT, cards[WATER_CHAT])  # the pressed copy
    assert "Статус: В роботі" not in shown(world, STAFF_CHAT, cards[STAFF_CHAT])  # not yet

    mark = len(server.calls)
    await world.deliver()
    [edit] = edits(world, mark, STAFF_CHAT)
    assert edit.ok, edit.description
    assert edit.method == "editMessageText"
    assert int(edit.params["message_id"]) == cards[STAFF_CHAT]
    assert "Статус: В роботі" in edit.params["text"]
    assert "Статус: В роботі" in shown(world, STAFF_CHAT, cards[STAFF_CHAT])
    # The staff copy's buttons follow the new status too.
    markup = (server.message(STAFF_CHAT, cards[STAFF_CHAT]) or {})["reply_markup"]
    labels = [button["text"] for row in markup["inline_keyboard"] for button in row]
    assert "В роботі" not in labels
    assert "Виконано" in labels
    # The pressed copy, already edited by the button, is edited again to no effect: "not
    # modified" counts as delivered, nothing is left pending or dead.
    [again] = edits(world, mark, WATER_CHAT)
    assert "not modified" in (again.description or "")
    assert await world.outbox() == []
    assert await world.outbox(OutboxStatus.DEAD) == []


async def test_the_deadline_job_edits_every_copy(world: StaffWorld) -> None:
    request_id, cards = await two_cards(world)
    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
    assert request is not None
    world.clock.set(request.ack_due + timedelta(minutes=1))
    watch = DeadlineWatch(
        world.routing, texts(), world.clock, staff_chat=STAFF, requests=world.requests
    )
    async with world.storage.transaction() as session:
        assert await watch.escalate_due(session) == 1

    mark = len(world.server.calls)
    await world.deliver()
    for chat in (STAFF_CHAT, WATER_CHAT):
        [edit] = edits(world, mark, chat)
        assert edit.ok, edit.description
        assert int(edit.params["message_id"]) == cards[chat]
        assert "Прострочено строк прийняття" in shown(world, chat, cards[chat])


async def test_the_follow_up_answer_and_the_rating_show_on_every_copy(world: StaffWorld) -> None:
    request_id, cards = await two_cards(world)
    settings = FollowupSettings(delay=timedelta(hours=1))
    followups = FollowupService(
        world.requests, texts(), world.clock, staff_chat=STAFF, settings=settings
    )
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request_id, Status.DONE, Actor.operator(OPERATOR, "Олена")
        )
    world.clock.advance(timedelta(hours=2))
    async with world.storage.transaction() as session:
        assert await followups.ask_due(session) == 1
        followup = await session.followups.latest_for_request(request_id)
        assert followup is not None
        assert await followups.record_outcome(session, followup, FollowupOutcome.YES)
        await followups.record_rating(session, followup, 4)

    mark = len(world.server.calls)
    await world.deliver()
    for chat in (STAFF_CHAT, WATER_CHAT):
        assert all(edit.ok for edit in edits(world, mark, chat))
        card = shown(world, chat, cards[chat])
        assert "Статус: Виконано" in card
        assert "Відгук заявника: підтвердив виконання" in card
        assert "Оцінка: ★★★★☆ 4/5" in card


async def test_a_resident_who_says_not_done_reopens_every_copy(world: StaffWorld) -> None:
    request_id, cards = await two_cards(world)
    followups = FollowupService(
        world.requests,
        texts(),
        world.clock,
        staff_chat=STAFF,
        settings=FollowupSettings(delay=timedelta(hours=1)),
    )
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request_id, Status.DONE, Actor.operator(OPERATOR, "Олена")
        )
    world.clock.advance(timedelta(hours=2))
    async with world.storage.transaction() as session:
        await followups.ask_due(session)
        followup = await session.followups.latest_for_request(request_id)
        assert followup is not None
        await followups.record_outcome(session, followup, FollowupOutcome.NO)
        answered = await session.followups.get(followup.id)
        assert answered is not None
        assert await followups.give_reason(session, answered, "Води так і немає") is not None

    await world.deliver()
    for chat in (STAFF_CHAT, WATER_CHAT):
        card = shown(world, chat, cards[chat])
        assert "Статус: Відкрито повторно" in card, card
        assert "каже, що не виконано (ні); заявку відкрито повторно" in card


async def test_a_needs_info_answer_edits_every_copy(world: StaffWorld) -> None:
    request_id, cards = await two_cards(world)
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request_id, Status.NEEDS_INFO, Actor.operator(OPERATOR), "Який під'їзд?"
        )
        request = await session.requests.get(request_id)
        assert request is not None
        resident = await session.residents.get_by_id(request.resident_id)
        assert resident is not None
        await world.requests.answer_info(session, request_id, resident, "Третій під'їзд")
    await world.deliver()
    for chat in (STAFF_CHAT, WATER_CHAT):
        assert "Третій під'їзд" in shown(world, chat, cards[chat])


async def test_a_copy_that_cannot_be_edited_blocks_nothing_and_is_not_retried(
    world: StaffWorld,
) -> None:
    server = world.server
    request_id, cards = await two_cards(world)
    # Someone deleted the staff chat's copy; the water chat refuses every edit for good.
    await world.bot.delete_message(STAFF_CHAT, cards[STAFF_CHAT])
    server.faults.add(
        kind="400",
        method="editMessageText",
        chat_id=WATER_CHAT,
        description="Bad Request: chat not found",
        times=None,
    )
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request_id, Status.ACCEPTED, Actor.operator(OPERATOR, "Олена")
        )
    mark = len(server.calls)
    await world.deliver()
    # The staff chat gets a fresh card in place of the deleted one ("message to edit not
    # found"); the water chat's edit is tried once and given up (a dead letter, not retried).
    [gone] = edits(world, mark, STAFF_CHAT)
    assert not gone.ok
    assert "message to edit not found" in (gone.description or "")
    [fresh] = [c for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c) and c.button_data]
    assert "Статус: Прийнято" in (fresh.text or "")
    [refused] = edits(world, mark, WATER_CHAT)
    assert not refused.ok
    assert await world.outbox() == []
    [dead] = await world.outbox(OutboxStatus.DEAD)
    assert dead.chat == UserRef(ChannelName.TELEGRAM, str(WATER_CHAT))
    assert dead.attempts == 1
    mark = len(server.calls)
    await world.deliver()
    assert server.calls[mark:] == []  # nothing is tried again

    # The next change edits the fresh card, and posts no other.
    fresh_id = int(fresh.result["message_id"])
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request_id, Status.IN_PROGRESS, Actor.operator(OPERATOR, "Олена")
        )
    mark = len(server.calls)
    await world.deliver()
    [edit] = edits(world, mark, STAFF_CHAT)
    assert edit.ok, edit.description
    assert int(edit.params["message_id"]) == fresh_id
    assert not [c for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c) and c.button_data]
    assert "Статус: В роботі" in shown(world, STAFF_CHAT, fresh_id)


async def test_a_copy_with_a_photo_is_edited_in_its_caption(world: StaffWorld) -> None:
    server = world.server
    server.files["AgACPipePic"] = b"jpeg"
    request = await world.file_request(
        RequestDraft(
            category=Category.WATER,
            description="Прорив труби",
            district=District.TERNIVSKYI,
            photos=("AgACPipePic",),
        )
    )
    mark = len(server.calls)
    await world.deliver()
    cards = {
        chat: int(c.result["message_id"])
        for chat in (STAFF_CHAT, WATER_CHAT)
        for c in server.calls[mark:]
        if sent_to(chat, "sendPhoto")(c)
    }
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, cards[STAFF_CHAT], text="Прийнято", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    mark = len(server.calls)
    await world.deliver()
    [edit] = edits(world, mark, WATER_CHAT)
    assert edit.ok, edit.description
    assert edit.method == "editMessageCaption"
    assert int(edit.params["message_id"]) == cards[WATER_CHAT]
    assert request.number in edit.params["caption"]
    assert "Статус: Прийнято" in shown(world, WATER_CHAT, cards[WATER_CHAT])


async def test_a_card_not_sent_yet_goes_out_as_the_request_is_now(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    # The water chat refuses for now (a 502): its card waits while staff act on theirs.
    server.faults.add(kind="502", chat_id=WATER_CHAT)
    mark = len(server.calls)
    await world.deliver()
    [staff_card] = [c for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c) and c.button_data]
    assert not [c for c in server.calls[mark:] if sent_to(WATER_CHAT)(c) and c.ok]
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request.id, Status.ACCEPTED, Actor.operator(OPERATOR, "Олена")
        )
    world.clock.advance(timedelta(minutes=5))  # past the retry's backoff
    mark = len(server.calls)
    await world.deliver()
    [water_card] = [c for c in server.calls[mark:] if sent_to(WATER_CHAT)(c) and c.button_data]
    assert "Статус: Прийнято" in (water_card.text or "")
    [edit] = edits(world, mark, STAFF_CHAT)
    assert int(edit.params["message_id"]) == int(staff_card.result["message_id"])
    assert "Статус: Прийнято" in edit.params["text"]


async def test_an_escalation_pressed_becomes_a_copy_edited_later(world: StaffWorld) -> None:
    server = world.server
    request_id, cards = await two_cards(world)
    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
    assert request is not None
    world.clock.set(request.ack_due + timedelta(minutes=1))
    watch = DeadlineWatch(
        world.routing, texts(), world.clock, staff_chat=STAFF, requests=world.requests
    )
    async with world.storage.transaction() as session:
        await watch.escalate_due(session)
    mark = len(server.calls)
    await world.deliver()
    [alarm] = [
        c
        for c in server.calls[mark:]
        if sent_to(STAFF_CHAT)(c) and c.button_data and int(c.result["message_id"]) not in
        cards.values()
    ]  # fmt: skip
    alarm_id = int(alarm.result["message_id"])
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, alarm_id, text="Прийнято", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert "Статус: Прийнято" in shown(world, STAFF_CHAT, alarm_id)  # now the card

    mark = len(server.calls)
    server.press_button(WATER_CHAT, cards[WATER_CHAT], text="В роботі", user_id=WATER_WORKER)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    await world.deliver()
    for message_id in (cards[STAFF_CHAT], alarm_id):
        assert "Статус: В роботі" in shown(world, STAFF_CHAT, message_id)


async def test_a_reason_typed_for_an_escalation_makes_it_a_copy_a_back_office_change_edits(
    world: StaffWorld,
) -> None:
    server = world.server
    request_id, cards = await two_cards(world)
    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
    assert request is not None
    world.clock.set(request.ack_due + timedelta(minutes=1))
    watch = DeadlineWatch(
        world.routing, texts(), world.clock, staff_chat=STAFF, requests=world.requests
    )
    async with world.storage.transaction() as session:
        await watch.escalate_due(session)
    mark = len(server.calls)
    await world.deliver()
    [alarm] = [
        c
        for c in server.calls[mark:]
        if sent_to(STAFF_CHAT)(c) and c.button_data and int(c.result["message_id"]) not in
        cards.values()
    ]  # fmt: skip
    alarm_id = int(alarm.result["message_id"])

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, alarm_id, text="Відхилено", user_id=OPERATOR)
    [prompt] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    mark = len(server.calls)
    world.push(
        group_message_update(
            STAFF_CHAT,
            OPERATOR,
            "Це не до міської служби",
            reply_to_message=int(prompt.result["message_id"]),
        )
    )
    await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert "Статус: Відхилено" in shown(world, STAFF_CHAT, alarm_id)

    # A back office reopens it through the service: every copy follows, the pressed one too.
    async with world.storage.transaction() as session:
        await world.requests.reopen(session, request_id, Actor.system("backoffice"), "Помилка")
    await world.deliver()
    for chat, message_id in ((STAFF_CHAT, cards[STAFF_CHAT]), (WATER_CHAT, cards[WATER_CHAT]),
                             (STAFF_CHAT, alarm_id)):  # fmt: skip
        assert "Статус: Відкрито повторно" in shown(world, chat, message_id)


@pytest.mark.parametrize("photo", [False, True], ids=["text", "caption"])
async def test_a_long_card_is_edited_within_one_message_history_included(
    world: StaffWorld, photo: bool
) -> None:
    server = world.server
    server.files["AgACLongPic"] = b"jpeg"
    request = await world.file_request(
        RequestDraft(
            category=Category.WATER,
            description="Дуже & довгий <опис>. " * 180,
            district=District.TERNIVSKYI,
            photos=("AgACLongPic",) if photo else (),
        )
    )
    mark = len(server.calls)
    await world.deliver()
    methods = ("sendPhoto",) if photo else ("sendMessage",)
    [card] = [c for c in server.calls[mark:] if sent_to(WATER_CHAT, *methods)(c) and c.button_data]
    card_id = int(card.result["message_id"])
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, request.id, Status.IN_PROGRESS, Actor.operator(OPERATOR, "Олена")
        )
    mark = len(server.calls)
    await world.deliver()
    [edit] = edits(world, mark, WATER_CHAT)
    assert edit.ok, edit.description
    assert edit.method == ("editMessageCaption" if photo else "editMessageText")
    text = shown(world, WATER_CHAT, card_id)
    assert "Статус: В роботі" in text
    assert "…" in text  # the description was shortened ...
    assert "В роботі (оператор Олена)" in text  # ... so the history's last line still fits


async def test_a_request_erased_on_closure_leaves_no_personal_data_on_its_copies(
    world: StaffWorld,
) -> None:
    from handlers.privacy import ErasureOnClosure  # noqa: PLC0415 - as bot.compose registers it

    world.requests.add_observer(ErasureOnClosure())
    request_id, cards = await two_cards(world)
    assert "вул. Світлогірська, 10" in shown(world, STAFF_CHAT, cards[STAFF_CHAT])
    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
        assert request is not None
        await session.privacy.erase_resident(request.resident_id, now=world.clock.now())
    async with world.storage.transaction() as session:  # kept open, erased when it closes
        await world.requests.change_status(
            session, request_id, Status.DONE, Actor.operator(OPERATOR, "Олена")
        )
    await world.deliver()
    for chat in (STAFF_CHAT, WATER_CHAT):
        card = shown(world, chat, cards[chat])
        assert "Статус: Виконано" in card
        for personal in ("вул. Світлогірська", "Немає води з ранку", "+380671234567"):
            assert personal not in card, card
