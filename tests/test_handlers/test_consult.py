"""Consultations through the conversation: matching, browsing, feedback, shelters, counting."""

from __future__ import annotations

from functools import cache

import pytest

from domain.clock import ManualClock
from domain.messages import ButtonKind, ChannelName, Incoming, Kind, Location, UserRef
from domain.texts import Texts
from fakes.recording import Resident
from faq.knowledge import KnowledgeBase, load_knowledge_base
from faq.matcher import Matcher
from faq.shelters import SAMPLE_SHELTERS_CSV, load_shelters
from handlers.consult import ConsultFeature, ShelterSource
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from storage.sqlite import SqliteStorage


@cache
def knowledge() -> tuple[KnowledgeBase, Matcher]:
    kb = load_knowledge_base()
    return kb, Matcher.from_knowledge_base(kb)


def make_feature() -> ConsultFeature:
    kb, matcher = knowledge()
    shelters = ShelterSource(load_shelters(SAMPLE_SHELTERS_CSV), is_sample=True)
    return ConsultFeature(kb, matcher, shelters)


@pytest.fixture(params=[ChannelName.TELEGRAM, ChannelName.VIBER, ChannelName.CONSOLE])
def resident(
    request: pytest.FixtureRequest, storage: SqliteStorage, clock: ManualClock
) -> Resident:
    feature = make_feature()
    conversation = Conversation(
        storage=storage,
        clock=clock,
        texts=Texts.load(),
        features=[feature, MenuFeature()],
        preparers=[feature.prepare],
    )
    return Resident(conversation, UserRef(request.param, "42"))


Row = tuple[str | None, int, str | None, int | None]


async def consultations(storage: SqliteStorage) -> list[Row]:
    async with storage.transaction() as session:
        db = session.consultations._db
        async with db.execute(
            "SELECT topic, matched, question, helpful FROM consultations ORDER BY id"
        ) as cursor:
            return [(row[0], row[1], row[2], row[3]) for row in await cursor.fetchall()]


async def test_a_question_in_ukrainian_gets_the_answer_and_is_counted(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("як отримати довідку ВПО")
    assert resident.last[0].title is not None
    assert "Дія" in resident.text
    assert any("Так" in label for label in resident.labels)
    # The question is kept with the answer (for "not helpful" in ``faq unanswered``).
    assert await consultations(storage) == [
        ("idp_registration", 1, "як отримати довідку впо", None)
    ]


async def test_russian_with_a_typo_is_understood(resident: Resident) -> None:
    await resident.say("где ближайшее бомбоубежеще")
    titles = [reply.title for reply in resident.last]
    labels = " ".join(resident.labels)
    assert "Укриття" in (titles[0] or "") or "Укриття" in labels


async def test_out_of_scope_is_not_answered_with_confidence(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("яка погода завтра")
    assert "не знайшов" in resident.text
    assert any("оператору" in label for label in resident.labels)
    rows = await consultations(storage)
    assert rows == [(None, 0, "яка погода завтра", None)]


async def test_greeting_is_small_talk_not_an_unanswered_question(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("Привіт!")
    assert "Вітаю" in resident.text
    assert await consultations(storage) == []


async def test_browse_section_then_entry_then_feedback(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("/start")
    await resident.press("Консультація")
    kb, _ = knowledge()
    first_section = kb.sections[0]
    await resident.press(first_section.title.uk)
    first_entry = kb.entries_in(first_section.id)[0]
    await resident.press(first_entry.title.uk)
    assert resident.last[0].title == first_entry.title.uk
    await resident.press("Ні")
    assert "Дякуємо" in resident.text
    rows = await consultations(storage)
    assert rows == [(first_entry.id, 1, None, 0)]


async def test_feedback_on_someone_elses_consultation_changes_nothing(
    resident: Resident, storage: SqliteStorage, clock: ManualClock
) -> None:
    await resident.say("як отримати довідку ВПО")
    other = Resident(resident.conversation, UserRef(resident.user.channel, "999"))
    payload = next(
        b.payload for r in resident.last for b in r.all_buttons if b.label.endswith("Так")
    )
    await other.send(Incoming(other.user, Kind.BUTTON, payload=payload))
    assert "неактуальна" in other.text
    assert (await consultations(storage))[0][3] is None


async def test_shelter_button_asks_for_location_then_gives_three_nearest(
    resident: Resident,
) -> None:
    await resident.say("/start")
    await resident.press("Найближче укриття")
    share = [b for r in resident.last for b in r.all_buttons if b.kind is ButtonKind.SHARE_LOCATION]
    assert share
    replies = await resident.send(
        Incoming(resident.user, Kind.LOCATION, location=Location(47.91, 33.39))
    )
    text = replies[0].text
    assert text.count("openstreetmap.org") == 3
    assert "ЗРАЗКОВІ" in text
    assert replies[0].location is not None


async def test_english_resident_gets_english_answers(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Мова")
    await resident.press("English")
    await resident.say("де найближче укриття")
    assert resident.last[0].title is not None
    assert "Was this answer helpful?" in resident.text


async def test_a_lone_surrogate_is_stored_replaced_not_a_technical_error(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("\ud83d ззззз кккк щщщ")
    assert "технічна помилка" not in resident.text
    assert "не знайшов" in resident.text
    assert (await consultations(storage))[0][2] == "? ззззз кккк щщщ"
