"""The conversation engine through a recording driver, once per channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, Incoming, Kind, Location, UserRef
from domain.texts import Texts
from fakes.recording import Resident
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from storage.sqlite import SqliteStorage


@pytest.fixture(params=[ChannelName.TELEGRAM, ChannelName.VIBER, ChannelName.CONSOLE])
def channel(request: pytest.FixtureRequest) -> ChannelName:
    return request.param  # type: ignore[no-any-return]


def make_conversation(storage: SqliteStorage, clock: ManualClock) -> Conversation:
    return Conversation(storage=storage, clock=clock, texts=Texts.load(), features=[MenuFeature()])


@pytest.fixture
def resident(storage: SqliteStorage, clock: ManualClock, channel: ChannelName) -> Resident:
    return Resident(make_conversation(storage, clock), UserRef(channel, "501"))


async def test_start_shows_welcome_and_menu(resident: Resident) -> None:
    replies = await resident.say("/start")
    assert "Контакт-центру" in replies[0].text
    assert any("Консультація" in label for label in resident.labels)
    assert any("Нова заявка" in label for label in resident.labels)
    assert any("Оператор" in label for label in resident.labels)
    assert any("Мова" in label for label in resident.labels)


async def test_about_gives_the_contacts(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Про контакт-центр")
    assert "1520" in resident.text
    assert "(056) 49-9-15-20" in resident.text
    assert "spilkuisia.kr.gov.ua" in resident.text
    assert "24/7" in resident.text


async def test_language_switch_is_remembered(
    resident: Resident, storage: SqliteStorage, clock: ManualClock
) -> None:
    await resident.say("/start")
    await resident.press("Мова")
    await resident.press("English")
    assert "English" in resident.text
    # A new engine over the same database (a restart) still speaks English.
    again = Resident(make_conversation(storage, clock), resident.user)
    await again.say("/menu")
    assert "Main menu" in [reply.title for reply in again.last]


@pytest.mark.parametrize("kind", [Kind.STICKER, Kind.VOICE, Kind.VIDEO, Kind.DOCUMENT, Kind.OTHER])
async def test_unsupported_media_gets_a_polite_answer(resident: Resident, kind: Kind) -> None:
    replies = await resident.send(Incoming(resident.user, kind))
    assert len(replies) == 1
    assert "Вибачте" in replies[0].text


@pytest.mark.parametrize("payload", ["v0:menu", "v1:nonexistent", "v1:menu:<b>", "x" * 80, ""])
async def test_stale_or_forged_button_changes_nothing(
    resident: Resident, storage: SqliteStorage, payload: str
) -> None:
    await resident.say("/start")
    async with storage.transaction() as session:
        found = await session.residents.get(resident.user)
        assert found is not None
        await session.conversations.save(
            found.id,
            type(await session.conversations.load(found.id))("intake.x", {"a": 1}),
            now=found.last_seen,
        )
    replies = await resident.send(Incoming(resident.user, Kind.BUTTON, payload=payload))
    assert "неактуальна" in replies[0].text
    async with storage.transaction() as session:
        state = await session.conversations.load(found.id)
    assert (state.step, state.data) == ("intake.x", {"a": 1})


async def test_duplicate_update_is_answered_once(resident: Resident) -> None:
    first = await resident.send(Incoming(resident.user, Kind.TEXT, text="/start", update_key="u-1"))
    second = await resident.send(
        Incoming(resident.user, Kind.TEXT, text="/start", update_key="u-1")
    )
    assert first
    assert second == []


async def test_placeholder_sections_say_how_to_reach_the_center(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Мої заявки")
    assert "1520" in resident.text


async def test_unknown_text_is_not_understood(resident: Resident) -> None:
    await resident.say("/start")
    await resident.say("абракадабра")
    assert "не зрозумів" in resident.text


async def test_huge_text_is_refused_clearly(resident: Resident) -> None:
    await resident.say("x" * 100_000)
    assert "задовге" in resident.text


async def test_location_outside_a_flow_is_answered(resident: Resident) -> None:
    replies = await resident.send(
        Incoming(resident.user, Kind.LOCATION, location=Location(47.9, 33.4))
    )
    assert replies


async def test_cancel_returns_to_menu(resident: Resident) -> None:
    await resident.say("/cancel")
    assert "Немає дії" in resident.text


async def test_state_survives_a_restart(
    storage: SqliteStorage, clock: ManualClock, db_path: Path
) -> None:
    user = UserRef(ChannelName.TELEGRAM, "777")
    first = Resident(make_conversation(storage, clock), user)
    await first.say("/start")
    await first.press("Мова")
    await first.press("English")
    await storage.close()
    reopened = await SqliteStorage.open(db_path)
    try:
        second = Resident(make_conversation(reopened, clock), user)
        await second.say("/help")
        assert "How to use the bot" in second.text
    finally:
        await reopened.close()
