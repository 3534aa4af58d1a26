"""A request number typed anywhere shows that request, to its owner only."""

from __future__ import annotations

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import find_number
from fakes.recording import Resident
from storage.base import ConversationState
from storage.sqlite import SqliteStorage
from tests.test_handlers.requests_helpers import file_water_request, make_conversation

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@pytest.mark.parametrize(
    ("text", "anywhere", "whole"),
    [
        ("1520-000123", 123, 123),
        ("№ 1520–000123", 123, 123),
        ("заявка 123", 123, 123),
        ("Заявка № 000123?", 123, 123),
        ("request #45", 45, 45),
        ("000123", 123, 123),
        ("моя заявка 1520-000045 досі не виконана", 45, None),
        ("123", None, None),  # a bare number may be a house or a flat
        ("1520", None, None),  # the hotline, not a request
        ("вул. Мелешкіна 10", None, None),
        ("067 123 45 67", None, None),
    ],
)
def test_numbers_are_found_where_people_type_them(
    text: str, anywhere: int | None, whole: int | None
) -> None:
    assert find_number(text) == anywhere
    assert find_number(text, whole=True) == whole


async def filed(storage: SqliteStorage, clock: ManualClock, user_id: str) -> tuple[Resident, str]:
    person = Resident(make_conversation(storage, clock), UserRef(ChannelName.TELEGRAM, user_id))
    done = await file_water_request(person)
    number = next(word for r in done for word in r.text.split() if word.startswith("1520-"))
    return person, number.strip(".,")


async def test_a_number_typed_from_the_menu_shows_the_request(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    person, number = await filed(storage, clock, "601")
    await person.say("/menu")
    answer = await person.say(number)
    assert answer[0].title is not None
    assert number in answer[0].title
    answer = await person.say(f"заявка {int(number[-6:])}")
    assert answer[0].title is not None
    assert number in answer[0].title
    answer = await person.say(f"що з моєю заявкою {number}? досі не виконана")
    assert answer[0].title is not None
    assert number in answer[0].title


async def test_someone_elses_number_is_answered_like_a_missing_one(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    _owner, number = await filed(storage, clock, "602")
    stranger = Resident(make_conversation(storage, clock), UserRef(ChannelName.VIBER, "603"))
    theirs = (await stranger.say(number))[0].text
    missing = (await stranger.say("1520-009999"))[0].text
    assert "не знайдено серед ваших заявок" in theirs
    assert theirs.replace(number, "N") == missing.replace("1520-009999", "N")
    assert "Світлогірська" not in theirs


async def test_inside_the_form_only_a_bare_number_is_looked_up(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    person, number = await filed(storage, clock, "604")
    await person.press("Головне меню")
    await person.press("Нова заявка")
    await person.press("Водопостачання")
    await person.press("Тернівський")
    await person.say("вул. Світлогірська, 12")
    # A sentence that mentions the old number is the new request's description...
    await person.say(f"Після {number} знову тече труба в підвалі")
    async with storage.transaction() as session:
        resident = await session.residents.get(person.user)
        assert resident is not None
        state = await session.conversations.load(resident.id)
    assert state.step == "req.photos"
    assert number in state.data["d"]["description"]
    # ...while the number alone shows the old request and keeps the form where it was.
    answer = await person.say(number)
    assert answer[0].title is not None
    assert number in answer[0].title
    async with storage.transaction() as session:
        kept: ConversationState = await session.conversations.load(resident.id)
    assert kept.step == "req.photos"
