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
from faq.shelter_search import CityArea
from faq.shelters import SAMPLE_SHELTERS_CSV, load_shelters
from handlers.consult import ConsultFeature, ShelterSource
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage


@cache
def knowledge() -> tuple[KnowledgeBase, Matcher]:
    kb = load_knowledge_base()
    return kb, Matcher.from_knowledge_base(kb)


def make_feature() -> ConsultFeature:
    kb, matcher = knowledge()
    shelters = ShelterSource(
        load_shelters(SAMPLE_SHELTERS_CSV),
        is_sample=True,
        area=CityArea(47.91, 33.39, radius_km=40),
    )
    return ConsultFeature(kb, matcher, shelters)


@pytest.fixture(params=[ChannelName.TELEGRAM, ChannelName.VIBER, ChannelName.CONSOLE])
def resident(
    request: pytest.FixtureRequest, storage: SqliteStorage | PostgresStorage, clock: ManualClock
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


async def consultations(storage: SqliteStorage | PostgresStorage) -> list[Row]:
    sql = "SELECT topic, matched, question, helpful FROM consultations ORDER BY id"
    if isinstance(storage, PostgresStorage):
        async with storage.snapshot() as view:
            found = await view.db.execute(sql)
            rows = await found.fetchall()
        # Booleans come back as bool, which compares equal to SQLite's 1 and 0.
        return [(row["topic"], row["matched"], row["question"], row["helpful"]) for row in rows]
    async with storage.transaction() as session:
        db = session.consultations._db
        async with db.execute(sql) as cursor:
            return [(row[0], row[1], row[2], row[3]) for row in await cursor.fetchall()]


@pytest.mark.both_backends  # the consultations table on PostgreSQL too
async def test_a_question_in_ukrainian_gets_the_answer_and_is_counted(
    resident: Resident, storage: SqliteStorage | PostgresStorage
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
    resident: Resident, storage: SqliteStorage | PostgresStorage
) -> None:
    await resident.say("яка погода завтра")
    assert "не знайшов" in resident.text
    assert any("оператору" in label for label in resident.labels)
    rows = await consultations(storage)
    assert rows == [(None, 0, "яка погода завтра", None)]


async def test_greeting_is_small_talk_not_an_unanswered_question(
    resident: Resident, storage: SqliteStorage | PostgresStorage
) -> None:
    await resident.say("Привіт!")
    assert "Вітаю" in resident.text
    assert await consultations(storage) == []


@pytest.mark.both_backends  # the consultations table on PostgreSQL too
async def test_browse_section_then_entry_then_feedback(
    resident: Resident, storage: SqliteStorage | PostgresStorage
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


@pytest.mark.both_backends  # the consultations table on PostgreSQL too
async def test_feedback_on_someone_elses_consultation_changes_nothing(
    resident: Resident, storage: SqliteStorage | PostgresStorage, clock: ManualClock
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


@pytest.mark.both_backends  # the consultations table on PostgreSQL too
async def test_a_lone_surrogate_is_stored_replaced_not_a_technical_error(
    resident: Resident, storage: SqliteStorage | PostgresStorage
) -> None:
    await resident.say("\ud83d ззззз кккк щщщ")
    assert "технічна помилка" not in resident.text
    assert "не знайшов" in resident.text
    assert (await consultations(storage))[0][2] == "? ззззз кккк щщщ"


# --- shelters by a typed address or district, and a location outside the city ----------------

# How each channel shares a location, as the "send a location" answer says it.
HOW = {ChannelName.TELEGRAM: "📎", ChannelName.VIBER: "«+»", ChannelName.CONSOLE: "loc 47.91"}


def shares_location(resident: Resident) -> bool:
    return any(b.kind is ButtonKind.SHARE_LOCATION for r in resident.last for b in r.all_buttons)


async def test_an_address_typed_after_the_shelter_button_lists_that_street_nearest_first(
    resident: Resident, storage: SqliteStorage | PostgresStorage
) -> None:
    await resident.say("/start")
    await resident.press("Найближче укриття")
    assert HOW[resident.user.channel] in resident.text
    await resident.say("вул. Зразкова 15")
    reply = resident.last[0]
    assert reply.title == "Укриття: вул. Зразкова"
    assert reply.text.index("вул. Зразкова, 15") < reply.text.index("вул. Зразкова, 1\n")
    assert reply.text.count("openstreetmap.org") == 4
    assert "ЗРАЗКОВІ" in reply.text
    assert reply.location is not None
    assert shares_location(resident)
    # Counted as a shelter search; the address typed is not kept.
    assert (await consultations(storage))[-1] == ("shelters", 1, None, None)


async def test_a_street_with_a_typo_in_a_question_about_shelters(resident: Resident) -> None:
    await resident.say("укриття на вулиці Тества")
    assert resident.last[0].title == "Укриття: вул. Тестова"
    assert resident.text.count("вул. Тестова, ") == 4


async def test_a_district_lists_a_few_of_its_shelters(resident: Resident) -> None:
    await resident.say("укриття в Металургійному районі")
    assert resident.last[0].title == "Укриття: Металургійний район"
    assert resident.text.count("openstreetmap.org") == 4
    assert "вул. Тестова, 22" in resident.text
    await resident.say("Тернівський район сховище")
    assert resident.last[0].title == "Укриття: Тернівський район"
    assert resident.text.count("openstreetmap.org") == 3


async def test_an_address_after_the_shelter_answer_is_searched(resident: Resident) -> None:
    await resident.say("де найближче укриття")
    assert resident.last[0].title == "Укриття"
    await resident.say("Тестова 40")
    assert resident.last[0].title == "Укриття: вул. Тестова"
    assert resident.text.index("вул. Тестова, 40") < resident.text.index("вул. Тестова, 22")


@pytest.mark.parametrize(
    "text", ["вул. Мелешкіна 10", "де укриття на Соборності", "укриття на вулиці Мелешкіна"]
)
async def test_an_unknown_address_is_told_how_to_send_a_location(
    resident: Resident, storage: SqliteStorage | PostgresStorage, text: str
) -> None:
    await resident.say(text)
    assert "Не знайшов(-ла) цієї адреси" in resident.text
    assert HOW[resident.user.channel] in resident.text
    assert shares_location(resident)
    assert any("оператору" in label for label in resident.labels)
    assert await consultations(storage) == [("shelters", 0, None, None)]


async def test_an_unknown_address_after_the_button_then_a_location_works(
    resident: Resident,
) -> None:
    await resident.say("/start")
    await resident.press("Найближче укриття")
    await resident.say("Мелешкіна 10")
    assert HOW[resident.user.channel] in resident.text
    await resident.send(Incoming(resident.user, Kind.LOCATION, location=Location(47.91, 33.39)))
    assert resident.text.count("openstreetmap.org") == 3


async def test_another_question_after_the_shelter_button_is_answered_as_one(
    resident: Resident,
) -> None:
    await resident.say("/start")
    await resident.press("Найближче укриття")
    await resident.say("як отримати довідку ВПО")
    assert "Дія" in resident.text
    assert "адреси" not in resident.text


async def test_a_location_far_outside_the_city_is_told_so_with_national_sources(
    resident: Resident, storage: SqliteStorage | PostgresStorage
) -> None:
    await resident.say("/start")
    await resident.press("Найближче укриття")
    kyiv = Location(50.45, 30.52)
    replies = await resident.send(Incoming(resident.user, Kind.LOCATION, location=kyiv))
    text = replies[0].text
    assert replies[0].title == "Ви за межами міста"
    assert "openstreetmap.org" not in text
    assert "км від центру" in text
    assert "diia.gov.ua" in text
    assert "dsns.gov.ua" in text
    assert replies[0].location is None
    assert await consultations(storage) == [("shelters", 0, None, None)]


async def test_english_texts_for_the_shelter_search(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Мова")
    await resident.press("English")
    await resident.say("вул. Мелешкіна 10")
    assert "could not find this address" in resident.text
    await resident.say("Тернівський район сховище")
    assert resident.last[0].title == "Shelters: Тернівський district"
