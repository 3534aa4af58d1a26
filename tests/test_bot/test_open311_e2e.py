"""The Open311 API end to end with Telegram: a real aiogram bot polling the fake Bot API, the
API on 127.0.0.1 over the same SQLite file and request service.

A resident files a request in Telegram; the back office reads it through the API and moves it
to "in progress" and "done" through ``servicerequestupdates``; the resident is told each change
and gets the follow-up; a repeated ``update_id`` changes nothing. A request filed through the
API reaches the staff chat as a card and is found by ``/find``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from domain.clock import ManualClock
from domain.payloads import build
from domain.requests import ActorKind, EventKind, Status, format_number
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from fakes.telegram_updates import group_message_update, message_update
from services.followups import FollowupService, FollowupSettings
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_bot.open311_harness import ApiClient, ApiWorld, start_api
from tests.test_bot.test_staff_harness import (
    OPERATOR,
    RESIDENT,
    STAFF_CHAT,
    StaffWorld,
    make_world,
    sent_to,
    server,
    texts,
)

__all__ = ["server"]  # the fixture, imported for pytest


@pytest.fixture
async def worlds(
    server: FakeTelegramServer, storage: SqliteStorage, clock: ManualClock
) -> AsyncIterator[tuple[StaffWorld, ApiWorld]]:
    telegram = await make_world(server, storage, clock, forum=False)
    api = await start_api(storage, clock, telegram.requests)
    try:
        yield telegram, api
    finally:
        await api.stop()
        await telegram.stop()


async def _answer(world: StaffWorld, mark: int, expect: str) -> RecordedCall:
    """The bot's message to the resident after ``mark`` that has ``expect`` in its text or
    among its buttons' data (a reply may come in several messages)."""

    def wanted(call: RecordedCall) -> bool:
        return sent_to(RESIDENT)(call) and (
            expect in (call.text or "") or expect in call.button_data
        )

    [reply] = await world.server.wait_for(wanted, start=mark)
    return reply


async def press(world: StaffWorld, data: str, expect: str) -> RecordedCall:
    """Press the resident's newest button with ``data``."""
    message = next(
        call for call in reversed(world.server.sent_messages(RESIDENT)) if data in call.button_data
    )
    mark = len(world.server.calls)
    world.server.press_button(RESIDENT, int(message.result["message_id"]), data=data)
    return await _answer(world, mark, expect)


async def say(world: StaffWorld, text: str, expect: str) -> RecordedCall:
    mark = len(world.server.calls)
    world.push(message_update(RESIDENT, text))
    return await _answer(world, mark, expect)


async def file_in_telegram(world: StaffWorld) -> None:
    """The request form, as a resident goes through it."""
    await say(world, "/start", build("req_new"))
    await press(world, build("req_new"), build("rq", "cat", "water"))
    await press(world, build("rq", "cat", "water"), build("rq", "dist", "ternivskyi"))
    await press(world, build("rq", "dist", "ternivskyi"), build("rq", "consent", "yes"))
    await press(world, build("rq", "consent", "yes"), "⬇️")
    await say(world, "вул. Світлогірська, 10", "Опишіть проблему")
    await say(world, "Немає води з ранку, тиск слабкий", build("rq", "photos"))
    await press(world, build("rq", "photos"), "⬇️")
    await say(world, "067 123 45 67", build("rq", "ok"))
    await press(world, build("rq", "ok"), "Заявку зареєстровано")


async def told_resident(world: StaffWorld) -> list[str]:
    mark = len(world.server.calls)
    await world.deliver()
    return [call.text or "" for call in world.server.calls[mark:] if sent_to(RESIDENT)(call)]


async def update(client: ApiClient, **form: str) -> dict[str, str]:
    answer = await client.post("/servicerequestupdates.json", form)
    assert answer.status == 200, answer.body
    [result] = answer.json
    assert isinstance(result, dict)
    return result


async def find_card(world: StaffWorld, number: str) -> RecordedCall:
    mark = len(world.server.calls)
    world.push(group_message_update(STAFF_CHAT, OPERATOR, f"/find {number}"))
    [card] = await world.server.wait_for(sent_to(STAFF_CHAT), start=mark)
    return card


async def test_a_telegram_request_is_worked_through_the_api(
    worlds: tuple[StaffWorld, ApiWorld], clock: ManualClock
) -> None:
    telegram, api = worlds
    await file_in_telegram(telegram)
    mark = len(telegram.server.calls)
    await telegram.deliver()
    cards = [call for call in telegram.server.calls[mark:] if sent_to(STAFF_CHAT)(call)]
    assert cards, "no card reached the staff chat"

    client = api.client()
    [listed] = (await client.get("/requests.json")).json
    number = listed["service_request_id"]
    assert number == format_number(1)
    assert listed["status"] == "open"
    assert listed["description"] == "Немає води з ранку, тиск слабкий"
    assert "380671234567" not in str(listed)

    clock.advance(timedelta(minutes=5))
    first = await update(
        client, update_id="kvp-17", service_request_id=number, status="IN_PROGRESS"
    )
    assert first["external_status_code"] == "in_progress"
    assert any("розпочато роботи" in text for text in await told_resident(telegram))

    clock.advance(timedelta(hours=3))
    await update(
        client,
        update_id="kvp-18",
        service_request_id=number,
        status="FIXED",
        description="Трубу замінено",
    )
    assert any("виконано" in text for text in await told_resident(telegram))

    # The same update again: nothing changes, nobody is told twice.
    async with telegram.storage.transaction() as session:
        before = await session.requests.history(1)
    again = await update(client, update_id="kvp-18", service_request_id=number, status="FIXED")
    assert again["update_id"] == "kvp-18"
    assert await told_resident(telegram) == []
    async with telegram.storage.transaction() as session:
        after = await session.requests.history(1)
        request = await session.requests.get(1)
    assert after == before
    assert request is not None
    assert request.status is Status.DONE
    changes = [entry for entry in after if entry.event is EventKind.STATUS]
    assert [entry.to_status for entry in changes] == [Status.IN_PROGRESS, Status.DONE]
    assert {entry.actor.kind for entry in changes} == {ActorKind.BACK_OFFICE}

    [closed] = (await client.get(f"/requests/{number}.xml")).xml
    assert closed.findtext("status") == "closed"
    assert closed.findtext("status_notes") == "Трубу замінено"

    # The staff card shows both changes (a fresh copy from /find).
    card = await find_card(telegram, number)
    assert "Виконано" in (card.text or "")
    assert "В роботі" in (card.text or "")

    # The follow-up after "done", as the scheduled job asks it.
    followups = FollowupService(
        telegram.requests,
        texts(),
        clock,
        staff_chat=telegram.requests.staff_chat,
        settings=FollowupSettings(delay=timedelta(hours=24)),
    )
    clock.advance(timedelta(hours=25))
    async with telegram.storage.transaction() as session:
        assert await followups.ask_due(session) == 1
    mark = len(telegram.server.calls)
    await telegram.deliver()
    [question] = [call for call in telegram.server.calls[mark:] if sent_to(RESIDENT)(call)]
    assert any(data.startswith("v1:fu:") for data in question.button_data)


async def test_a_request_filed_through_the_api_reaches_the_staff_chat_and_find(
    worlds: tuple[StaffWorld, ApiWorld],
) -> None:
    telegram, api = worlds
    answer = await api.client().post(
        "/requests.json",
        {
            "service_code": "roads_yards",
            "address_string": "вул. Металургів, 3",
            "description": "Яма на виїзді з двору <script>",
            "attribute[district]": "metalurhiinyi",
        },
    )
    assert answer.status == 200, answer.body
    number = answer.json[0]["service_request_id"]
    mark = len(telegram.server.calls)
    await telegram.deliver()
    cards = [call for call in telegram.server.calls[mark:] if sent_to(STAFF_CHAT)(call)]
    assert len(cards) == 1
    assert number in (cards[0].text or "")
    assert "Яма на виїзді з двору &lt;script&gt;" in str(cards[0].params.get("text"))
    found = await find_card(telegram, number)
    assert number in (found.text or "")
    assert build("st", 1, "accepted") in found.button_data
    # Nothing is ever sent to the API "resident".
    async with telegram.storage.transaction() as session:
        pending = await session.outbox.list(status=OutboxStatus.PENDING, limit=100)
    assert pending == []


async def test_the_staff_card_is_edited_in_place_by_api_updates(
    worlds: tuple[StaffWorld, ApiWorld], clock: ManualClock
) -> None:
    telegram, api = worlds
    await file_in_telegram(telegram)
    mark = len(telegram.server.calls)
    await telegram.deliver()
    [card] = [call for call in telegram.server.calls[mark:] if sent_to(STAFF_CHAT)(call)]
    card_id = int(card.result["message_id"])
    client = api.client()
    number = format_number(1)
    await update(client, update_id="a", service_request_id=number, status="IN_PROGRESS")
    await telegram.deliver()
    assert "Статус: В роботі" in (telegram.server.message(STAFF_CHAT, card_id) or {})["text"]
    await update(client, update_id="b", service_request_id=number, status="FIXED")
    await telegram.deliver()
    assert "Статус: Виконано" in (telegram.server.message(STAFF_CHAT, card_id) or {})["text"]
