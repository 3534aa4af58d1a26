"""Small talk, reactions and unknown commands through the whole conversation (every feature,
as ``bot.compose`` wires it): brief kind answers, never "no answer found", and crisis first."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, UserRef
from fakes.recording import Resident
from storage.sqlite import SqliteStorage
from tests.test_handlers.test_crisis import is_crisis, make_conversation, put_in_step, state_of


@pytest.fixture
def person(storage: SqliteStorage, clock: ManualClock, tmp_path: Path) -> Resident:
    return Resident(
        make_conversation(storage, clock, tmp_path), UserRef(ChannelName.TELEGRAM, "601")
    )


async def english(person: Resident) -> None:
    await person.say("/start")
    await person.press("Мова")
    await person.press("English")


async def consultations(storage: SqliteStorage) -> list[str | None]:
    async with storage.transaction() as session:
        db = session.consultations._db
        async with db.execute("SELECT topic FROM consultations ORDER BY id") as cursor:
            return [row[0] for row in await cursor.fetchall()]


UK = "Головне меню"
EN = "Main menu"


@pytest.mark.parametrize(
    ("text", "english_", "says", "operator"),
    [
        # thanks
        ("дякую", False, "Будь ласка", False),
        ("спасибо большое!", False, "Будь ласка", False),
        ("thank you", True, "You are welcome", False),
        # greeting
        ("привіт", False, "Чим можу допомогти", False),
        ("добрый день", False, "Чим можу допомогти", False),
        ("hello!", True, "How can I help", False),
        # goodbye
        ("бувай", False, "До побачення", False),
        ("пока", False, "До побачення", False),
        ("bye", True, "Goodbye", False),
        # approval, thumbs up
        ("👍", False, "Добре", False),
        ("ок", False, "Добре", False),
        ("ok", True, "Good", False),
        ("понятно", False, "Добре", False),
        # are you a bot / who are you
        ("ти бот?", False, "автоматичний помічник", True),
        ("ты бот?", False, "автоматичний помічник", True),
        ("хто ти", False, "автоматичний помічник", True),
        ("are you a bot?", True, "automated assistant", True),
        # anger, swearing, angry emoji
        ("бля", False, "Вибачте", True),
        ("😡😡😡", False, "Вибачте", True),
        ("тупой бот", False, "Вибачте", True),
        ("stupid bot", True, "I am sorry", True),
        # laughter
        ("хахаха", False, "Гарного настрою", False),
        ("😂", False, "Гарного настрою", False),
        ("lol", True, "good mood", False),
        # any other emoji: a reaction, not a question
        ("🌻🌻", False, "реакцію", False),
    ],
)
async def test_small_talk_gets_a_brief_kind_answer_with_the_menu(
    person: Resident,
    storage: SqliteStorage,
    text: str,
    english_: bool,
    says: str,
    operator: bool,
) -> None:
    if english_:
        await english(person)
    answer = await person.say(text)
    assert len(answer) == 1
    assert says in answer[0].text
    assert "не знайшов" not in answer[0].text
    assert "could not find" not in answer[0].text
    labels = person.labels
    assert any((EN if english_ else UK) in label for label in labels)
    assert any("operator" in label or "оператору" in label for label in labels) is operator
    # Not a question: nothing is recorded for the editors' "unanswered" list.
    assert await consultations(storage) == []


async def test_who_are_you_names_the_line_and_the_way_to_an_operator(person: Resident) -> None:
    answer = await person.say("хто ти?")
    assert "1520" in answer[0].text
    assert "оператор" in answer[0].text
    await person.press("Написати оператору")  # the button leads to the operator relay
    assert person.last


async def test_a_question_with_thanks_in_it_still_reaches_the_knowledge_base(
    person: Resident, storage: SqliteStorage
) -> None:
    await person.say("дякую, а як отримати довідку ВПО для переселенців?")
    assert person.last[0].title is not None
    assert "Будь ласка" not in person.text
    assert await consultations(storage) == ["idp_registration"]


async def test_a_crisis_with_a_small_talk_word_is_a_crisis(person: Resident) -> None:
    answer = await person.say("дякую, але я не хочу жити")
    assert is_crisis(answer), [reply.text for reply in answer]
    assert "7333" in answer[0].text


async def test_small_talk_inside_a_flow_is_left_to_the_step(
    person: Resident, storage: SqliteStorage, clock: ManualClock
) -> None:
    # At the description step "ок" is what the resident typed, not small talk.
    await put_in_step(storage, person.user, "req.description", clock)
    answer = await person.say("ок")
    assert "👍 Добре" not in answer[0].text


@pytest.mark.parametrize("command", ["/foo", "/help2", "/foo@kc1520_bot some words"])
async def test_an_unknown_command_is_answered_as_a_command(
    person: Resident, storage: SqliteStorage, command: str
) -> None:
    answer = await person.say(command)
    assert len(answer) == 1
    name = command.split(maxsplit=1)[0].split("@", maxsplit=1)[0]
    assert f"не знаю команди {name}." in answer[0].text
    for known in ("/start", "/menu", "/help", "/cancel", "/language", "/forget"):
        assert known in answer[0].text
    assert any(UK in label for label in person.labels)
    assert await consultations(storage) == []


async def test_an_unknown_command_in_english_and_mid_form_keeps_the_step(
    person: Resident, storage: SqliteStorage, clock: ManualClock
) -> None:
    await english(person)
    await put_in_step(storage, person.user, "req.description", clock)
    before = await state_of(storage, person.user)
    answer = await person.say("/foo")
    assert "I don't know the command /foo." in answer[0].text
    after = await state_of(storage, person.user)
    assert (after.step, after.data) == (before.step, before.data)


async def test_a_known_command_addressed_to_a_bot_is_that_command(person: Resident) -> None:
    answer = await person.say("/start@otherbot")
    assert "Контакт-центру" in answer[0].text
