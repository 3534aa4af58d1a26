"""Staff-chat cards end to end: a real aiogram bot polling the fake Bot API over HTTP.

A resident's request reaches the staff chat as a card (through the outbox worker); operators
press its buttons, the card is edited in place and the resident is told each change; strangers
are refused and change nothing; /find and /request show cards.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from domain.clock import ManualClock
from domain.payloads import build
from domain.requests import Category, District, EventKind, RequestDraft, Status
from fakes.telegram_api import FakeTelegramServer
from fakes.telegram_updates import callback_update, group_message_update, message_update
from services.routing import DEFAULT_ROUTING_FILE, Routing, parse_routing
from storage.sqlite import SqliteStorage
from tests.test_bot.test_staff_harness import (
    MEMBER,
    OPERATOR,
    RESIDENT,
    STAFF_CHAT,
    STRANGER,
    StaffWorld,
    called,
    eventually,
    make_world,
    sent_to,
    server,
)

__all__ = ["server"]  # the fixture, imported for pytest

DRAFT = RequestDraft(
    category=Category.WATER,
    description="Немає води <b>з ранку</b> & тиск слабкий",
    district=District.TERNIVSKYI,
    address="вул. Світлогірська, 10",
    phone="067 123 45 67",
)


@pytest.fixture
async def world(
    server: FakeTelegramServer, storage: SqliteStorage, clock: ManualClock
) -> AsyncIterator[StaffWorld]:
    world = await make_world(server, storage, clock, forum=False)
    try:
        yield world
    finally:
        await world.stop()


async def card_in_staff_chat(world: StaffWorld) -> int:
    mark = len(world.server.calls)
    await world.deliver()
    cards = [call for call in world.server.calls[mark:] if sent_to(STAFF_CHAT)(call)]
    assert cards, "no card reached the staff chat"
    return int(cards[0].result["message_id"])


async def status_of(world: StaffWorld, request_id: int) -> Status:
    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
    assert request is not None
    return request.status


async def told_resident(world: StaffWorld) -> list[str]:
    mark = len(world.server.calls)
    await world.deliver()
    return [call.text or "" for call in world.server.calls[mark:] if sent_to(RESIDENT)(call)]


async def test_operator_moves_the_card_and_the_resident_is_told_each_change(
    world: StaffWorld,
) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    card = server.message(STAFF_CHAT, card_id)
    assert card is not None
    assert request.number in card["text"]
    assert "<b>з ранку</b>" in card["text"]  # the resident's text is shown as typed, not markup
    assert build("st", request.id, "in_progress") in [
        b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row
    ]

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="В роботі", user_id=OPERATOR)
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert not answer.params.get("show_alert")
    methods = [call.method for call in server.calls[mark:]]
    assert methods.index("editMessageText") < methods.index("answerCallbackQuery")
    assert "Статус: В роботі" in (server.message(STAFF_CHAT, card_id) or {})["text"]
    assert any("розпочато роботи" in text for text in await told_resident(world))

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Виконано", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    edited = server.message(STAFF_CHAT, card_id) or {}
    assert "Статус: Виконано" in edited["text"]
    labels = [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row]
    assert "Виконано" not in labels  # only what may follow "done" is offered
    assert any("виконано" in text for text in await told_resident(world))

    # The same press again (an old client still shows the button): nothing changes.
    mark = len(server.calls)
    world.push(
        callback_update(
            OPERATOR,
            build("st", request.id, "done"),
            chat_id=STAFF_CHAT,
            message_id=card_id,
            first_name="Олена",
        )
    )
    [stale] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert stale.params.get("show_alert") is True
    assert "Виконано" in stale.params["text"]
    assert await told_resident(world) == []
    async with world.storage.transaction() as session:
        history = await world.requests.history(session, request.id)
    assert [h.to_status for h in history if h.event is EventKind.STATUS] == [
        Status.IN_PROGRESS,
        Status.DONE,
    ]


async def test_a_stranger_is_refused_and_nothing_changes(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    before = server.message(STAFF_CHAT, card_id)

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="В роботі", user_id=STRANGER)
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert answer.params.get("show_alert") is True
    assert "лише оператори" in answer.params["text"]
    assert not [c for c in server.calls[mark:] if c.method.startswith("edit")]
    assert server.message(STAFF_CHAT, card_id) == before
    assert await status_of(world, request.id) is Status.NEW
    assert await told_resident(world) == []


async def test_a_staff_chat_member_may_act_and_membership_is_cached(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Прийнято", user_id=MEMBER)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    server.press_button(STAFF_CHAT, card_id, text="В роботі", user_id=MEMBER)
    await server.wait_for(called("answerCallbackQuery"), start=mark, count=2)
    assert await status_of(world, request.id) is Status.IN_PROGRESS
    lookups = [c for c in server.calls[mark:] if c.method == "getChatMember"]
    assert len(lookups) == 1


async def test_rejecting_asks_for_a_reason_and_the_resident_gets_it(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Відхилено", user_id=OPERATOR)
    [prompt] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert (prompt.params.get("reply_markup") or {}).get("force_reply") is True
    assert request.number in (prompt.text or "")
    assert await status_of(world, request.id) is Status.NEW  # no reason, no rejection

    mark = len(server.calls)
    world.push(
        group_message_update(
            STAFF_CHAT,
            OPERATOR,
            "Ділянка належить до сусідньої громади",
            reply_to_message=int(prompt.result["message_id"]),
        )
    )
    await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert await status_of(world, request.id) is Status.REJECTED
    assert "Статус: Відхилено" in (server.message(STAFF_CHAT, card_id) or {})["text"]
    assert any("сусідньої громади" in text for text in await told_resident(world))


async def test_a_question_typed_in_the_thread_reaches_the_resident_and_the_answer_comes_back(
    world: StaffWorld,
) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Потрібна інформація", user_id=OPERATOR)
    await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    # Not a reply: the operator's next message in the chat is the question.
    mark = len(server.calls)
    world.push(group_message_update(STAFF_CHAT, OPERATOR, "Який номер під'їзду?"))
    await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert await status_of(world, request.id) is Status.NEEDS_INFO
    assert any("Який номер під'їзду?" in text for text in await told_resident(world))

    world.push(message_update(RESIDENT, "Під'їзд 2"))
    await world.wait_outbox(lambda message: message.kind == "answer")
    mark = len(server.calls)
    await world.deliver()
    back = [c.text or "" for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c)]
    assert any("Під'їзд 2" in text for text in back)


async def test_cancel_leaves_the_request_as_it_was(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Відхилено", user_id=OPERATOR)
    [prompt] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    mark = len(server.calls)
    world.push(
        group_message_update(
            STAFF_CHAT, OPERATOR, "/cancel", reply_to_message=int(prompt.result["message_id"])
        )
    )
    [note] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert "Скасовано" in (note.text or "")
    assert await status_of(world, request.id) is Status.NEW


async def test_the_executor_is_chosen_from_the_routing_file(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Виконавець", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    picker = server.message(STAFF_CHAT, card_id) or {}
    choices = [b["text"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert len(choices) == len(world.routing.executors) + 1  # and "back"
    target = world.routing.executors["damage_commission"]

    mark = len(server.calls)
    server.press_button(
        STAFF_CHAT, card_id, data=build("asg", request.id, target.id), user_id=OPERATOR
    )
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert target.name in answer.params["text"]
    assert target.name in (server.message(STAFF_CHAT, card_id) or {})["text"]
    async with world.storage.transaction() as session:
        assigned = await session.requests.get(request.id)
    assert assigned is not None
    assert assigned.executor_id == target.id


async def test_find_by_number_and_by_phone_and_request_show_cards(
    world: StaffWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = world.server
    request = await world.file_request(DRAFT)
    other = await world.file_request(
        RequestDraft(category=Category.WASTE, description="Переповнені баки", phone="0501112233")
    )
    await world.deliver()

    for query in (request.number, "+380 67 123-45-67", "0671234567"):
        mark = len(server.calls)
        world.push(group_message_update(STAFF_CHAT, OPERATOR, f"/find {query}"))
        [card] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
        assert request.number in (card.text or "")
        assert build("st", request.id, "accepted") in card.button_data
        assert other.number not in (card.text or "")

    mark = len(server.calls)
    world.push(group_message_update(STAFF_CHAT, MEMBER, f"/request {other.id}"))
    [card] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert other.number in (card.text or "")

    mark = len(server.calls)
    world.push(group_message_update(STAFF_CHAT, OPERATOR, "/find 1520-999999"))
    [none] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert "Нічого не знайдено" in (none.text or "")

    # Ours and aiogram's logs (aiosqlite's DEBUG log echoes SQL parameters: keep it above DEBUG
    # in production, see bot.app.configure_logging).
    ours = ("bot", "services", "handlers", "storage", "notifications", "domain", "aiogram")
    logged = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith(ours)
    )
    assert "/find in chat" in logged
    for secret in (
        "380671234567",
        "0671234567",
        "123-45-67",
        "0501112233",
        "Немає води",
        "Переповнені",
    ):
        assert secret not in logged


async def test_resident_is_not_answered_from_the_staff_chat_router(world: StaffWorld) -> None:
    """A private chat still reaches the conversation (the staff routers filter by chat)."""
    server = world.server
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "/start"))
    await server.wait_for(sent_to(RESIDENT), start=mark, count=2)

    async def nothing_pending() -> bool:
        return not await world.outbox()

    await eventually(nothing_pending)


async def test_a_forged_button_is_answered_and_changes_nothing(world: StaffWorld) -> None:
    server = world.server
    request = await world.file_request(DRAFT)
    card_id = await card_in_staff_chat(world)
    for data in ("v0:st:1:done", f"v1:st:{request.id}:nonsense", "v1:st:abc"):
        mark = len(server.calls)
        world.push(callback_update(OPERATOR, data, chat_id=STAFF_CHAT, message_id=card_id))
        [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
        assert "застаріла" in answer.params["text"]
    assert await status_of(world, request.id) is Status.NEW


WATER_CHAT = -1009990000001
WATER_WORKER = 801  # a member of the water company's chat only


def routing_with_water_chat() -> Routing:
    text = DEFAULT_ROUTING_FILE.read_text(encoding="utf-8")
    marker = '    name: "Міське підприємство водопостачання та водовідведення"\n'
    assert marker in text
    return parse_routing(text.replace(marker, marker + f"    telegram_chat_id: {WATER_CHAT}\n"))


async def test_an_executor_acts_on_its_own_cards_in_its_own_chat(
    server: FakeTelegramServer, storage: SqliteStorage, clock: ManualClock
) -> None:
    server.add_chat(WATER_CHAT, type="supergroup", title="Водоканал")
    server.chat_members[(WATER_CHAT, WATER_WORKER)] = "member"
    world = await make_world(server, storage, clock, forum=False, routing=routing_with_water_chat())
    try:
        water = await world.file_request(DRAFT)  # routed to the water company
        waste = await world.file_request(
            RequestDraft(
                category=Category.WASTE, description="Переповнені баки", phone="0501112233"
            )
        )
        mark = len(server.calls)
        await world.deliver()
        [card] = [c for c in server.calls[mark:] if sent_to(WATER_CHAT)(c)]
        assert water.number in (card.text or "")
        card_id = int(card.result["message_id"])

        mark = len(server.calls)
        server.press_button(WATER_CHAT, card_id, text="В роботі", user_id=WATER_WORKER)
        [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
        assert not answer.params.get("show_alert")
        assert await status_of(world, water.id) is Status.IN_PROGRESS

        # Another executor's request, pressed from this chat: refused.
        mark = len(server.calls)
        world.push(
            callback_update(
                WATER_WORKER,
                build("st", waste.id, "accepted"),
                chat_id=WATER_CHAT,
                message_id=card_id,
            )
        )
        [refused] = await server.wait_for(called("answerCallbackQuery"), start=mark)
        assert refused.params.get("show_alert") is True
        assert await status_of(world, waste.id) is Status.NEW

        # /find in the executor's chat shows only its own requests.
        mark = len(server.calls)
        world.push(group_message_update(WATER_CHAT, WATER_WORKER, f"/find {waste.number}"))
        [none] = await server.wait_for(sent_to(WATER_CHAT), start=mark)
        assert "Нічого не знайдено" in (none.text or "")
    finally:
        await world.stop()


async def test_a_card_with_a_photo_is_edited_in_its_caption(world: StaffWorld) -> None:
    server = world.server
    server.files["AgACResidentPic"] = b"jpeg"
    request = await world.file_request(
        RequestDraft(
            category=Category.ROADS_YARDS,
            description="Яма у дворі " * 150,  # longer than a caption can hold
            district=District.POKROVSKYI,
            photos=("AgACResidentPic",),
        )
    )
    mark = len(server.calls)
    await world.deliver()
    [card] = [c for c in server.calls[mark:] if sent_to(STAFF_CHAT, "sendPhoto")(c)]
    card_id = int(card.result["message_id"])
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="Прийнято", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    [edit] = [c for c in server.calls[mark:] if c.method == "editMessageCaption"]
    assert edit.ok
    caption = (server.message(STAFF_CHAT, card_id) or {})["caption"]
    assert "Статус: Прийнято" in caption
    assert request.number in caption


async def test_a_card_longer_than_one_message_is_edited_within_the_limit(
    world: StaffWorld,
) -> None:
    server = world.server
    await world.file_request(
        RequestDraft(category=Category.OTHER, description="Дуже & довгий <опис>. " * 180)
    )
    mark = len(server.calls)
    await world.deliver()
    parts = [c for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c)]
    assert len(parts) == 2
    with_buttons = next(c for c in parts if c.button_data)
    card_id = int(with_buttons.result["message_id"])
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, card_id, text="В роботі", user_id=OPERATOR)
    await server.wait_for(called("answerCallbackQuery"), start=mark)
    [edit] = [c for c in server.calls[mark:] if c.method == "editMessageText"]
    assert edit.ok, edit.description
    edited = server.message(STAFF_CHAT, card_id) or {}
    assert "Статус: В роботі" in edited["text"]
    assert edited["reply_markup"]["inline_keyboard"]
