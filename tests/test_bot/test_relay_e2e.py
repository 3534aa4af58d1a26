"""The operator relay end to end: a real aiogram bot polling the fake Bot API over HTTP.

Both ways, text and photos, in a forum staff chat (a topic per resident) and in a plain group
(operators reply to the relayed messages); closing and turning a conversation into a request;
one topic per resident even when messages arrive at once; a Viber resident answered in Viber.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.telegram.relay import TelegramRelayDesk
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind
from domain.payloads import build
from domain.requests import Category
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from fakes.telegram_updates import group_message_update, message_update, photo_update
from storage.sqlite import SqliteStorage
from tests.test_bot.test_staff_harness import (
    OPERATOR,
    RESIDENT,
    STAFF_CHAT,
    STRANGER,
    StaffWorld,
    called,
    make_world,
    sent_to,
    server,
)

__all__ = ["server"]  # the fixture, imported for pytest

FORUM_CHAT: dict[str, Any] = {
    "id": STAFF_CHAT,
    "type": "supergroup",
    "title": "Оператори 1520",
    "is_forum": True,
}


@pytest.fixture(params=[True, False], ids=["forum", "plain-group"])
async def world(
    request: pytest.FixtureRequest,
    server: FakeTelegramServer,
    storage: SqliteStorage,
    clock: ManualClock,
) -> AsyncIterator[StaffWorld]:
    world = await make_world(server, storage, clock, forum=request.param)
    try:
        yield world
    finally:
        await world.stop()


@pytest.fixture
async def forum_world(
    server: FakeTelegramServer, storage: SqliteStorage, clock: ManualClock
) -> AsyncIterator[StaffWorld]:
    world = await make_world(server, storage, clock, forum=True)
    try:
        yield world
    finally:
        await world.stop()


async def open_relay(world: StaffWorld, user_id: int = RESIDENT) -> None:
    """The resident starts the bot and presses "Оператор"."""
    server = world.server
    mark = len(server.calls)
    world.push(message_update(user_id, "/start"))
    menu = (await server.wait_for(sent_to(user_id), start=mark, count=2))[1]
    mark = len(server.calls)
    server.press_button(user_id, int(menu.result["message_id"]), text="👩‍💼 Оператор")
    [opened] = await server.wait_for(sent_to(user_id), start=mark)
    assert "на зв'язку з оператором" in (opened.text or "")


async def to_staff(world: StaffWorld, count: int = 1) -> list[RecordedCall]:
    """Deliver the outbox; return what reached the staff chat."""
    mark = len(world.server.calls)
    await world.deliver()
    sent = [c for c in world.server.calls[mark:] if sent_to(STAFF_CHAT)(c)]
    assert len(sent) >= count, [c.summary() for c in world.server.calls[mark:]]
    return sent


async def to_resident(world: StaffWorld, user_id: int = RESIDENT) -> list[RecordedCall]:
    mark = len(world.server.calls)
    await world.deliver()
    return [c for c in world.server.calls[mark:] if sent_to(user_id)(c)]


def operator_says(
    world: StaffWorld, text: str, *, thread: int | None, reply_to: int | None, user: int = OPERATOR
) -> None:
    if world.forum:
        world.push(group_message_update(STAFF_CHAT, user, text, thread_id=thread, is_forum=True))
    else:
        world.push(group_message_update(STAFF_CHAT, user, text, reply_to_message=reply_to))


def relay_outbox(world: StaffWorld, kind: str = "relay_reply") -> Any:
    return world.wait_outbox(lambda message: message.kind == kind)


async def test_a_round_trip_both_ways_with_photos(world: StaffWorld) -> None:
    server = world.server
    await open_relay(world)
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "Мама на візку, а ліфт <не працює> & що робити?"))
    [ack] = await server.wait_for(sent_to(RESIDENT), start=mark)
    assert "передано оператору" in (ack.text or "")

    header, first = await to_staff(world, 2)
    thread = header.params.get("message_thread_id")
    topics = [c for c in server.calls if c.method == "createForumTopic"]
    if world.forum:
        assert thread is not None
        assert first.params.get("message_thread_id") == thread
        [topic] = topics
        assert "Розмова №1" in topic.params["name"]
    else:
        assert thread is None
        assert topics == []
        assert "Розмова №1" in (first.text or "")
    assert build("relay_close", 1) in header.button_data
    assert "Telegram" in (header.text or "")
    assert "&lt;не працює&gt; &amp;" in (first.text or "")  # resident text escaped, not markup

    # The operator answers (in the topic, or by replying to the resident's message).
    operator_says(
        world, "Викликаємо аварійну службу", thread=thread, reply_to=first.result["message_id"]
    )
    await relay_outbox(world)
    [answer] = await to_resident(world)
    assert "Оператор Контакт-центру" in (answer.text or "")
    assert "Викликаємо аварійну службу" in (answer.text or "")
    assert build("relay_end", 1) in answer.button_data

    # A photo from the operator...
    chat = FORUM_CHAT if world.forum else {**FORUM_CHAT, "is_forum": False}
    world.push(
        photo_update(
            OPERATOR,
            "AgACOperatorPhoto",
            caption="Схема під'їзду",
            chat=chat,
            thread_id=thread,
            reply_to=None if world.forum else int(first.result["message_id"]),
        )
    )
    await relay_outbox(world)
    [photo] = await to_resident(world)
    assert photo.method == "sendPhoto"
    assert photo.params["photo"] == "AgACOperatorPhoto"

    # ...and one from the resident (no acknowledgement after the first message).
    world.push(photo_update(RESIDENT, "AgACResidentPhoto", caption="ось двері"))
    await world.wait_outbox(lambda m: m.kind == "relay" and "AgACResidentPhoto" in m.body)
    [back] = await to_staff(world)
    assert back.method == "sendPhoto"
    assert back.params["photo"] == "AgACResidentPhoto"
    assert back.params.get("message_thread_id") == thread


async def test_a_stranger_in_the_staff_chat_cannot_write_to_the_resident(
    world: StaffWorld,
) -> None:
    server = world.server
    await open_relay(world)
    world.push(message_update(RESIDENT, "Допоможіть"))
    await world.wait_outbox(lambda m: m.kind == "relay")
    header, first = await to_staff(world, 2)
    mark = len(server.calls)
    operator_says(
        world,
        "Я не оператор",
        thread=header.params.get("message_thread_id"),
        reply_to=first.result["message_id"],
        user=STRANGER,
    )
    await server.wait_for(called("getChatMember"), start=mark)
    operator_says(
        world,
        "А я оператор",
        thread=header.params.get("message_thread_id"),
        reply_to=first.result["message_id"],
    )
    await relay_outbox(world)
    texts = [c.text or "" for c in await to_resident(world)]
    assert any("А я оператор" in text for text in texts)
    assert not any("Я не оператор" in text for text in texts)


async def test_closing_tells_the_resident_and_stops_the_relay(world: StaffWorld) -> None:
    server = world.server
    await open_relay(world)
    world.push(message_update(RESIDENT, "Питання щодо укриття"))
    await world.wait_outbox(lambda m: m.kind == "relay")
    header, first = await to_staff(world, 2)

    mark = len(server.calls)
    server.press_button(STAFF_CHAT, int(header.result["message_id"]), text="✖️ Закрити розмову",
                        user_id=OPERATOR)  # fmt: skip
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert "закрито" in answer.params["text"]
    assert not (server.message(STAFF_CHAT, int(header.result["message_id"])) or {}).get(
        "reply_markup"
    )
    told = await to_resident(world)
    assert any("Оператор завершив розмову" in (c.text or "") for c in told)

    mark = len(server.calls)
    operator_says(
        world,
        "Ще одне",
        thread=header.params.get("message_thread_id"),
        reply_to=first.result["message_id"],
    )
    [note] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert "закрито" in (note.text or "")
    assert await to_resident(world) == []

    # The resident's next text is an ordinary message again, not relayed.
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "дякую"))
    await server.wait_for(sent_to(RESIDENT), start=mark)
    assert [m for m in await world.outbox() if m.kind == "relay"] == []


async def test_the_resident_finishes_and_the_operators_are_told(world: StaffWorld) -> None:
    server = world.server
    await open_relay(world)
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "Дякую, питання вирішено"))
    [ack] = await server.wait_for(sent_to(RESIDENT), start=mark)
    await to_staff(world, 2)
    mark = len(server.calls)
    server.press_button(RESIDENT, int(ack.result["message_id"]), text="✖️ Завершити розмову")
    await server.wait_for(sent_to(RESIDENT), start=mark)
    [notice] = await to_staff(world)
    assert "Мешканець завершив розмову" in (notice.text or "")


async def test_a_person_in_danger_gets_the_numbers_and_the_operators_an_urgent_message(
    world: StaffWorld,
) -> None:
    server = world.server
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "сусід погрожує ножем, ломиться в двері"))
    [answer] = await server.wait_for(sent_to(RESIDENT), start=mark)
    lines = (answer.text or "").splitlines()
    assert "🆘" in lines[0]
    assert "102" in lines[2]
    assert build("operator") in answer.button_data
    header, alert = await to_staff(world, 2)
    assert "ТЕРМІНОВО" in (alert.text or "")
    assert "ломиться в двері" in (alert.text or "")
    assert build("relay_close", 1) in header.button_data
    if world.forum:
        assert alert.params.get("message_thread_id") == header.params.get("message_thread_id")
    # The operator answers right there, and the resident gets it.
    operator_says(
        world,
        "Ми викликали поліцію на вашу адресу, залишайтеся в квартирі",
        thread=header.params.get("message_thread_id"),
        reply_to=alert.result["message_id"],
    )
    await relay_outbox(world)
    [reply] = await to_resident(world)
    assert "викликали поліцію" in (reply.text or "")


async def test_the_operator_turns_the_conversation_into_a_request(world: StaffWorld) -> None:
    server = world.server
    await open_relay(world)
    world.push(message_update(RESIDENT, "Біля школи №5 не горять ліхтарі"))
    await world.wait_outbox(lambda m: m.kind == "relay")
    header, _ = await to_staff(world, 2)
    mark = len(server.calls)
    server.press_button(STAFF_CHAT, int(header.result["message_id"]), text="📝 Створити заявку",
                        user_id=OPERATOR)  # fmt: skip
    [answer] = await server.wait_for(called("answerCallbackQuery"), start=mark)
    assert "1520-000001" in answer.params["text"]
    async with world.storage.transaction() as session:
        request = await session.requests.get(1)
    assert request is not None
    assert request.category is Category.OTHER
    assert request.description == "Біля школи №5 не горять ліхтарі"
    mark = len(server.calls)
    await world.deliver()
    resident_texts = [c.text or "" for c in server.calls[mark:] if sent_to(RESIDENT)(c)]
    assert any("1520-000001" in text for text in resident_texts)
    cards = [c for c in server.calls[mark:] if sent_to(STAFF_CHAT)(c)]
    assert any("1520-000001" in (c.text or "") for c in cards)


async def test_two_messages_at_once_make_one_topic(forum_world: StaffWorld) -> None:
    world = forum_world
    server = world.server
    await open_relay(world)
    world.push(message_update(RESIDENT, "Перше"))
    world.push(message_update(RESIDENT, "Друге"))

    await world.wait_outbox(lambda m: "Друге" in m.body)
    sent = await to_staff(world, 3)
    assert len([c for c in server.calls if c.method == "createForumTopic"]) == 1
    assert len({c.params.get("message_thread_id") for c in sent}) == 1


async def test_concurrent_first_messages_create_one_topic_even_across_processes(
    forum_world: StaffWorld, clock: ManualClock
) -> None:
    """The desk itself: a lock in one process, the primary key across two."""
    world = forum_world
    server = world.server
    async with world.storage.transaction() as session:
        alice = await session.residents.touch(UserRef(ChannelName.TELEGRAM, "1"), now=clock.now())
        bob = await session.residents.touch(UserRef(ChannelName.VIBER, "bob"), now=clock.now())
        relay_a, _ = await session.relay.open(alice.id, now=clock.now())
        relay_b, _ = await session.relay.open(bob.id, now=clock.now())

    def desk() -> TelegramRelayDesk:
        return TelegramRelayDesk(
            world.bot,
            database=world.storage,
            clock=clock,
            service=world.relay.service,
            staff_chat_id=STAFF_CHAT,
        )

    one = desk()
    same = await asyncio.gather(*(one.destination(relay_a, alice) for _ in range(5)))
    assert len(set(same)) == 1
    assert len([c for c in server.calls if c.method == "createForumTopic"]) == 1

    mark = len(server.calls)
    first, second = await asyncio.gather(
        desk().destination(relay_b, bob), desk().destination(relay_b, bob)
    )
    assert first == second
    created = [c for c in server.calls[mark:] if c.method == "createForumTopic" and c.ok]
    assert 1 <= len(created) <= 2  # two processes may both create; one topic is kept
    assert "Viber" in created[0].params["name"]
    assert same[0] != first  # another resident, another topic
    async with world.storage.transaction() as session:
        thread = await session.relay.topic(str(STAFF_CHAT), bob.id)
    assert first == UserRef(ChannelName.TELEGRAM, f"{STAFF_CHAT}/{thread}")


async def test_a_viber_resident_is_answered_in_viber(forum_world: StaffWorld) -> None:
    world = forum_world
    server = world.server
    viber_user = UserRef(ChannelName.VIBER, "viber-user-1")
    await world.conversation.handle(Incoming(viber_user, Kind.BUTTON, payload=build("operator")))
    replies = await world.conversation.handle(
        Incoming(viber_user, Kind.TEXT, text="Пишу з Viber, потрібна довідка ВПО")
    )
    assert "передано оператору" in replies[0].text
    header, _first = await to_staff(world, 2)
    assert "Viber" in (header.text or "")
    thread = header.params.get("message_thread_id")

    world.push(
        group_message_update(
            STAFF_CHAT, OPERATOR, "Підкажу, як отримати", thread_id=thread, is_forum=True
        )
    )
    await relay_outbox(world)
    mark = len(server.calls)
    world.push(
        photo_update(
            OPERATOR, "AgACOnlyTelegram", caption="Зразок заяви", chat=FORUM_CHAT, thread_id=thread
        )
    )
    [note] = await server.wait_for(sent_to(STAFF_CHAT), start=mark)
    assert "Viber" in (note.text or "")  # the operator learns the photo cannot go
    await world.deliver()
    got = world.viber.texts(viber_user)
    assert any("Підкажу, як отримати" in text for text in got)
    assert any("Зразок заяви" in text for text in got)
    assert all(reply.photo is None for _, reply in world.viber.sent)


async def test_a_staff_chat_refusing_the_bot_does_not_block_the_resident(
    forum_world: StaffWorld,
) -> None:
    world = forum_world
    server = world.server
    await open_relay(world)
    mark = len(server.calls)
    world.push(message_update(RESIDENT, "Алло"))
    await server.wait_for(sent_to(RESIDENT), start=mark)
    server.block(STAFF_CHAT)  # the bot was removed from the staff chat
    await world.deliver()
    async with world.storage.transaction() as session:
        resident = await session.residents.get(UserRef(ChannelName.TELEGRAM, str(RESIDENT)))
    assert resident is not None
    assert not resident.blocked
