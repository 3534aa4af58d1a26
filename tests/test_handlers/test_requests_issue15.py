"""The request form does not lose or swallow things (issue 15): drafts kept through /menu,
/start and a restart, foreign numbers and no phone, typed consent, a question at a free-text
step, photos before the description, the last phone offered again."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, Incoming, Kind, UserRef
from domain.payloads import build
from fakes.recording import Resident
from storage.sqlite import SqliteStorage
from tests.test_handlers.requests_helpers import file_water_request, make_conversation, photo
from tests.test_handlers.test_requests_intake import reach_phone, state_of, stored


@pytest.fixture
def alice(storage: SqliteStorage, clock: ManualClock) -> Resident:
    return Resident(make_conversation(storage, clock), UserRef(ChannelName.TELEGRAM, "alice"))


async def start_to_description(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Нова заявка")
    await resident.press("Водопостачання")
    await resident.press("Тернівський")
    await resident.press("Так, погоджуюся")
    await resident.say("вул. Світлогірська, 10")


@pytest.mark.parametrize("leave", ["/menu", "/start"])
async def test_a_draft_survives_menu_and_start_and_is_offered(alice: Resident, leave: str) -> None:
    await start_to_description(alice)
    await alice.say(leave)
    assert "📝 Продовжити незавершену заявку" in alice.labels
    await alice.press("Продовжити незавершену заявку")
    assert "незавершена заявка" in alice.text
    await alice.press("Продовжити")
    assert "Опишіть проблему" in alice.text
    await alice.say("Немає холодної води з ранку")
    await alice.press("Пропустити")
    await alice.say("0671234567")
    assert "вул. Світлогірська, 10" in alice.text


async def test_new_request_after_menu_offers_the_draft(alice: Resident) -> None:
    await start_to_description(alice)
    await alice.say("/menu")
    await alice.press("Нова заявка")
    assert "незавершена заявка" in alice.text
    await alice.press("Почати заново")
    assert "чого вона стосується" in alice.text


async def test_slash_cancel_drops_a_paused_draft(alice: Resident, storage: SqliteStorage) -> None:
    await start_to_description(alice)
    await alice.say("/menu")
    await alice.say("/cancel")
    assert await state_of(storage, alice.user) == ("idle", {})
    await alice.press("Нова заявка")
    assert "чого вона стосується" in alice.text


async def test_a_draft_left_by_menu_survives_a_restart(
    storage: SqliteStorage, clock: ManualClock, db_path: Path
) -> None:
    user = UserRef(ChannelName.VIBER, "returning")
    first = Resident(make_conversation(storage, clock), user)
    await start_to_description(first)
    await first.say("/menu")
    await storage.close()
    reopened = await SqliteStorage.open(db_path)
    try:
        second = Resident(make_conversation(reopened, clock), user)
        await second.say("/start")
        await second.press("Продовжити незавершену заявку")
        await second.press("Продовжити")
        assert "Опишіть проблему" in second.text
    finally:
        await reopened.close()


@pytest.mark.parametrize("question", ["Де найближче укриття?", "скільки чекати?"])
async def test_a_question_at_the_description_is_not_the_description(
    alice: Resident, storage: SqliteStorage, question: str
) -> None:
    await start_to_description(alice)
    await alice.say(question)
    assert "Схоже, це запитання" in alice.text
    step, data = await state_of(storage, alice.user)
    assert step == "req.description"
    assert "description" not in data["d"]  # type: ignore[operator]
    assert "Назад" in " ".join(alice.labels)
    await alice.say("Немає холодної води з ранку")
    assert "фото" in alice.text


async def test_a_question_can_still_be_taken_as_the_description(alice: Resident) -> None:
    await start_to_description(alice)
    await alice.say("Коли дадуть воду? Немає з ранку")
    await alice.press("Це опис проблеми")
    await alice.press("Пропустити")
    await alice.say("0671234567")
    assert "Коли дадуть воду? Немає з ранку" in alice.text


@pytest.mark.parametrize(
    ("typed", "stored_as"),
    [("+48 512 345 678", "+48512345678"), ("+49 151 23456789", "+4915123456789")],
)
async def test_a_foreign_phone_is_taken(
    alice: Resident, db_path: Path, typed: str, stored_as: str
) -> None:
    await reach_phone(alice)
    await alice.say(typed)
    assert f"Телефон: {stored_as}" in alice.text
    await alice.press("Підтвердити")
    assert [r.phone for r in await stored(db_path)] == [stored_as]


async def test_no_phone_is_allowed_with_a_note(alice: Resident, db_path: Path) -> None:
    await reach_phone(alice)
    await alice.press("Без телефону")
    assert "не зможе вам зателефонувати" in alice.text
    assert "Телефон: —" in alice.text
    await alice.press("Підтвердити")
    assert "1520-000001" in alice.text
    assert [r.phone for r in await stored(db_path)] == [None]


@pytest.mark.parametrize("word", ["так", "Так!", "да", "yes", "ок"])
async def test_consent_can_be_typed(alice: Resident, word: str) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Тернівський")
    await alice.say(word)
    assert "Вкажіть адресу" in alice.text


async def test_a_typed_no_refuses_consent_and_an_unclear_reply_is_short(alice: Resident) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Тернівський")
    await alice.say("не знаю")
    assert "персональні дані" not in alice.text  # not the long text again
    assert "«так» або «ні»" in alice.text
    assert "Так, погоджуюся" in " ".join(alice.labels)
    await alice.say("ні")
    assert "не можемо прийняти заявку" in alice.text


async def test_a_photo_before_the_description_has_back_and_cancel(alice: Resident) -> None:
    await start_to_description(alice)
    await photo(alice, "photo-1")
    assert {"⬅️ Назад", "✖️ Скасувати заявку"} <= set(alice.labels)
    await alice.say("Немає холодної води з ранку")
    assert "Фото додано" not in alice.text
    assert "Уже додано фото: 1 з 5" in alice.text


async def test_the_last_phone_is_offered_for_the_next_request(alice: Resident) -> None:
    await file_water_request(alice)
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("req_new", "heating")))
    assert "Оберіть" not in alice.text or "районі" in alice.text  # the category is pre-selected
    await alice.press("Тернівський")
    await alice.say("вул. Світлогірська, 12")
    await alice.say("Холодні батареї в усьому під'їзді")
    await alice.press("Пропустити")
    await alice.press("Вказати +380671234567")
    assert "Телефон: +380671234567" in alice.text
    assert "Опалення" in alice.text
