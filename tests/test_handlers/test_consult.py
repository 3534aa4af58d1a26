"""Consultations through the conversation: matching, browsing, feedback, shelters, counting."""

from __future__ import annotations

from functools import cache

import pytest

from domain.clock import ManualClock
from domain.messages import ButtonKind, ChannelName, Incoming, Kind, Location, UserRef
from domain.payloads import build
from domain.texts import Texts
from fakes.recording import Resident
from faq.content_model import SHORT_MAX_CHARS
from faq.knowledge import KnowledgeBase, load_knowledge_base
from faq.matcher import Matcher
from faq.shelter_search import CityArea
from faq.shelters import SAMPLE_SHELTERS_CSV, load_shelters
from handlers.consult import MAX_RELATED, ConsultFeature, ShelterSource
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
    entry = knowledge()[0].entry("idp_registration")
    # A chat gets the short answer first; the console, the full one with its sources.
    console = resident.user.channel is ChannelName.CONSOLE
    shown = entry.answer.uk if console else entry.short.uk
    assert resident.text.startswith(shown)
    assert "ЦНАП" in resident.text
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
    await resident.press("👎 Ні")
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
    assert resident.last[0].title == "Реєстрація ВПО і довідка переселенця"
    assert "ЦНАП" in resident.text
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


# --- answers built for a phone screen: short first, "More details", related topics -------------

QUESTION_UK = Texts.load().get("uk", "consult_helpful_question")


def labels_in_order(resident: Resident) -> list[str]:
    return [button.label for button in resident.last[-1].all_buttons]


def position(labels: list[str], part: str) -> int:
    return next(index for index, label in enumerate(labels) if part in label)


@pytest.mark.parametrize(
    ("question", "entry_id", "action"),
    [
        ("де найближче укриття", "shelters", "Знайти найближче укриття"),
        ("нема опалення", "heating", "Подати заявку"),
    ],
)
async def test_the_first_answer_is_short_with_the_action_button_before_feedback(
    resident: Resident, question: str, entry_id: str, action: str
) -> None:
    await resident.say(question)
    entry = knowledge()[0].entry(entry_id)
    [reply] = resident.last
    assert reply.title == entry.title.uk
    labels = labels_in_order(resident)
    related = [knowledge()[0].entry(i).title.uk for i in entry.related[:MAX_RELATED]]
    if resident.user.channel is ChannelName.CONSOLE:
        # The console shows the full answer and its sources at once: nothing to press.
        assert reply.text.startswith(entry.answer.uk)
        assert "Джерела:" in reply.text
        assert not any("Детальніше" in label for label in labels)
        assert position(labels, action) < position(labels, "👍")
        return
    assert reply.text == f"{entry.short.uk}\n\n{QUESTION_UK}"
    assert len(reply.text) <= SHORT_MAX_CHARS
    assert "Джерела" not in reply.text
    # The action first, then "More details", the related topics, 👍/👎, the menu row.
    order = [action, "Детальніше", *related, "👍", "👎", "Усі теми"]
    assert [position(labels, part) for part in order] == sorted(
        position(labels, part) for part in order
    )
    assert position(labels, action) == 0


# The console shows the full answer at once: "More details" exists in chats only.
@pytest.mark.parametrize("resident", [ChannelName.TELEGRAM, ChannelName.VIBER], indirect=True)
async def test_more_details_gives_the_full_answer_and_sources_and_is_not_a_consultation(
    resident: Resident, storage: SqliteStorage
) -> None:
    await resident.say("де найближче укриття")
    entry = knowledge()[0].entry("shelters")
    await resident.press("Детальніше")
    [reply] = resident.last
    assert reply.title == entry.title.uk
    assert reply.text.startswith(entry.answer.uk)
    assert "Джерела: ДСНС України (https://dsns.gov.ua)" in reply.text
    labels = labels_in_order(resident)
    assert position(labels, "Знайти найближче укриття") < position(labels, "👍")
    assert not any("Детальніше" in label for label in labels)
    # Pressing "More details" recorded nothing; its 👍 marks the one consultation.
    assert await consultations(storage) == [("shelters", 1, "де найближче укриття", None)]
    await resident.press("👍 Так")
    assert "Дякуємо" in resident.text
    assert await consultations(storage) == [("shelters", 1, "де найближче укриття", 1)]


# The console shows the full answer at once: "More details" exists in chats only.
@pytest.mark.parametrize("resident", [ChannelName.TELEGRAM, ChannelName.VIBER], indirect=True)
async def test_more_details_in_english(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Мова")
    await resident.press("English")
    await resident.say("where is the nearest bomb shelter")
    entry = knowledge()[0].entry("shelters")
    assert resident.last[0].text.startswith(entry.short.en)
    await resident.press("More details")
    assert resident.last[0].text.startswith(entry.answer.en)
    assert "Sources:" in resident.text


async def test_related_buttons_carry_real_titles_and_open_those_topics(
    resident: Resident, storage: SqliteStorage
) -> None:
    kb = knowledge()[0]
    await resident.say("де найближче укриття")
    entry = kb.entry("shelters")
    related = [kb.entry(i) for i in entry.related[:MAX_RELATED]]
    labels = labels_in_order(resident)
    assert [label for label in labels if label.startswith("➡️ ")] == [
        "➡️ " + topic.title.uk for topic in related
    ]
    await resident.press(related[1].title.uk)
    assert resident.last[0].title == related[1].title.uk
    assert [row[0] for row in await consultations(storage)] == ["shelters", related[1].id]


@pytest.mark.parametrize(
    "payload",
    [build("faqd", "no_such_topic", 1), "v1:faqd:shelters:abc"],
    ids=["unknown entry", "bad consultation id"],
)
async def test_a_stale_details_button_gets_a_clear_answer(
    resident: Resident, storage: SqliteStorage, payload: str
) -> None:
    await resident.send(Incoming(resident.user, Kind.BUTTON, payload=payload))
    assert "Цієї теми вже немає в довідці" in resident.text
    assert any("Усі теми" in label for label in resident.labels)
    assert await consultations(storage) == []


def test_every_short_answer_fits_a_phone_screen_with_its_question() -> None:
    texts = Texts.load()
    for entry in knowledge()[0]:
        for language in ("uk", "en"):
            question = texts.get(language, "consult_helpful_question")
            body = f"{entry.short.get(language)}\n\n{question}"
            assert len(body) <= SHORT_MAX_CHARS, (entry.id, language, len(body))
