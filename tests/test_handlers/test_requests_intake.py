"""The intake flow through the recording driver, once per channel where the channel matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, Contact, Incoming, Kind, Location, UserRef
from domain.payloads import build
from domain.requests import Category, District, Request, StatusChange
from fakes.recording import Resident
from storage.base import StoreSession
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_handlers.requests_helpers import file_water_request, make_conversation, photo
from tests.test_services.helpers import STAFF, make_service


@pytest.fixture(params=[ChannelName.TELEGRAM, ChannelName.VIBER, ChannelName.CONSOLE])
def channel(request: pytest.FixtureRequest) -> ChannelName:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def resident(storage: SqliteStorage, clock: ManualClock, channel: ChannelName) -> Resident:
    return Resident(make_conversation(storage, clock), UserRef(channel, "501"))


@pytest.fixture
def alice(storage: SqliteStorage, clock: ManualClock) -> Resident:
    return Resident(make_conversation(storage, clock), UserRef(ChannelName.TELEGRAM, "601"))


async def stored(db_path: Path) -> list[Request]:
    """The requests as a *second* connection sees them: only what was committed."""
    other = await SqliteStorage.open(db_path)
    try:
        async with other.transaction() as session:
            found = []
            for request_id in range(1, 20):
                request = await session.requests.get(request_id)
                if request is not None:
                    found.append(request)
            return found
    finally:
        await other.close()


async def state_of(storage: SqliteStorage, user: UserRef) -> tuple[str, dict[str, object]]:
    async with storage.transaction() as session:
        found = await session.residents.get(user)
        assert found is not None
        state = await session.conversations.load(found.id)
    return state.step, state.data


# --- the whole flow ---------------------------------------------------------------------------


async def test_a_resident_files_a_request_and_gets_its_number(
    resident: Resident, storage: SqliteStorage, db_path: Path, channel: ChannelName
) -> None:
    replies = await file_water_request(resident)
    # The reply carries the number of a request that is already committed.
    committed = await stored(db_path)
    assert len(committed) == 1
    request = committed[0]
    assert request.number in replies[0].text
    assert "1520-000001" in replies[0].text
    assert "26.11.2026 14:00" in replies[0].text  # 24 h, Kyiv time
    assert "Міське підприємство водопостачання" in replies[0].text
    assert "термінову" in replies[0].text
    assert request.resident == UserRef(channel, "501")
    assert (request.category, request.district) == (Category.WATER, District.TERNIVSKYI)
    assert request.address == "вул. Світлогірська, 10"
    assert request.description == "Немає холодної води з самого ранку"
    assert request.photos == ("photo-1",)
    assert request.phone == "+380671234567"
    assert await state_of(storage, resident.user) == ("idle", {})
    async with storage.transaction() as session:
        card = await session.outbox.by_key(f"req:{request.id}:card:staff")
        found = await session.residents.get(resident.user)
    assert card is not None
    assert card.chat == STAFF
    assert found is not None
    assert found.consent_personal_data
    assert found.consent_at is not None


async def test_the_steps_come_in_order_with_consent_before_the_address(alice: Resident) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    assert "чого вона стосується" in alice.text
    assert len([label for label in alice.labels if label != "✖️ Скасувати заявку"]) == 12
    await alice.press("Опалення")
    assert "районі" in alice.text
    assert "🤷 Не знаю" in alice.labels
    await alice.press("Не знаю")
    assert "персональні дані" in alice.text
    assert "видалити" in alice.text
    await alice.press("Так, погоджуюся")
    assert "адресу" in alice.text
    share = [b for r in alice.last for b in r.all_buttons if b.kind.value == "share_location"]
    assert share
    await alice.say("пр. Металургів, 5, кв. 3")
    assert "Опишіть проблему" in alice.text
    await alice.say("Холодні батареї третій день поспіль")
    assert "фото" in alice.text
    await alice.press("Пропустити")
    assert "номер телефону" in alice.text
    contact = [b for r in alice.last for b in r.all_buttons if b.kind.value == "share_contact"]
    assert contact
    await alice.say("+380501234567")
    assert "Перевірте заявку" in [r.title for r in alice.last]
    for fragment in (
        "Опалення",
        "не вказано",
        "пр. Металургів, 5, кв. 3",
        "Холодні батареї",
        "+380501234567",
        "Фото: немає",
    ):
        assert fragment in alice.text


async def test_a_second_request_does_not_ask_for_consent_again(alice: Resident) -> None:
    await file_water_request(alice)
    await alice.press("Головне меню")
    await alice.press("Нова заявка")
    await alice.press("Сміття")
    await alice.press("Покровський")
    assert "адресу" in alice.text
    assert "персональні дані" not in alice.text


async def test_a_location_instead_of_an_address(alice: Resident, db_path: Path) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Дороги")
    await alice.press("Довгинцівський")
    await alice.press("Так, погоджуюся")
    await alice.send(Incoming(alice.user, Kind.LOCATION, location=Location(55.75, 37.61)))
    assert "за межами Кривого Рогу" in alice.text
    await alice.send(Incoming(alice.user, Kind.LOCATION, location=Location(47.91, 33.39)))
    assert "Опишіть проблему" in alice.text
    await alice.say("Яма на дорозі біля зупинки")
    await alice.press("Пропустити")
    await alice.say("0671234567")
    assert "геолокація (47.91000, 33.39000)" in alice.text
    await alice.press("Підтвердити")
    (request,) = await stored(db_path)
    assert (request.latitude, request.longitude, request.address) == (47.91, 33.39, None)
    assert request.executor_id == "vykonkom_dovhyntsivskyi"


async def test_a_photo_with_a_caption_is_the_description(alice: Resident, db_path: Path) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Вуличне освітлення")
    await alice.press("Саксаганський")
    await alice.press("Так, погоджуюся")
    await alice.say("вул. Вечірня, 12")
    await photo(alice, "p-1", "Ліхтар не світить уже тиждень")
    assert "1 з 5" in alice.text
    await photo(alice, "p-2")
    await alice.press("Готово")
    await alice.say("0671234567")
    await alice.press("Підтвердити")
    (request,) = await stored(db_path)
    assert request.description == "Ліхтар не світить уже тиждень"
    assert request.photos == ("p-1", "p-2")


async def test_a_photo_without_a_caption_asks_for_words(alice: Resident) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Вуличне освітлення")
    await alice.press("Саксаганський")
    await alice.press("Так, погоджуюся")
    await alice.say("вул. Вечірня, 12")
    await photo(alice, "p-1")
    assert "Фото додано" in alice.text
    assert "словами" in alice.text
    await alice.say("Ліхтар не світить уже тиждень")
    assert "1 з 5" in alice.text


async def test_at_most_five_photos(alice: Resident) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Інше")
    await alice.press("Не знаю")
    await alice.press("Так, погоджуюся")
    await alice.say("вул. Вечірня, 12")
    await alice.say("Зламана лавка у сквері")
    for index in range(5):
        await photo(alice, f"p-{index}")
    await photo(alice, "p-extra")
    assert "щонайбільше 5" in alice.text


# --- going back, cancelling, resuming ---------------------------------------------------------


async def test_back_returns_to_the_previous_step(alice: Resident, db_path: Path) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Тернівський")
    await alice.press("Так, погоджуюся")
    await alice.press("Назад")
    # Consent was given: back from the address goes to the district.
    assert "районі" in alice.text
    await alice.press("Інгулецький")
    assert "адресу" in alice.text
    await alice.say("вул. Перша, 1")
    await alice.press("Назад")
    assert "адресу" in alice.text
    await alice.say("вул. Друга, 2")
    await alice.say("Немає води другу добу")
    await alice.press("Пропустити")
    await alice.press("Назад")
    assert "фото" in alice.text
    await alice.press("Пропустити")
    await alice.say("0671234567")
    assert "Інгулецький" in alice.text
    assert "вул. Друга, 2" in alice.text
    await alice.press("Підтвердити")
    (request,) = await stored(db_path)
    assert request.district is District.INHULETSKYI


async def test_the_cancel_button_leaves_and_files_nothing(
    alice: Resident, storage: SqliteStorage, db_path: Path
) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Скасувати")
    assert "скасовано" in alice.text
    assert await state_of(storage, alice.user) == ("idle", {})
    assert await stored(db_path) == []


async def test_slash_cancel_leaves_too(alice: Resident, storage: SqliteStorage) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.say("/cancel")
    assert "Скасовано" in alice.text
    assert (await state_of(storage, alice.user))[0] == "idle"


async def test_leaving_halfway_and_returning_after_a_restart(
    storage: SqliteStorage, clock: ManualClock, db_path: Path
) -> None:
    user = UserRef(ChannelName.VIBER, "returning")
    first = Resident(make_conversation(storage, clock), user)
    await first.say("/start")
    await first.press("Нова заявка")
    await first.press("Електропостачання")
    await first.press("Металургійний")
    await first.press("Так, погоджуюся")
    await first.say("вул. Соборності, 3")
    await storage.close()
    reopened = await SqliteStorage.open(db_path)
    try:
        second = Resident(make_conversation(reopened, clock), user)
        await second.say("Світла немає з учорашнього вечора")
        assert "фото" in second.text
        await second.press("Пропустити")
        await second.say("0671234567")
        assert "вул. Соборності, 3" in second.text
        await second.press("Підтвердити")
        assert "1520-000001" in second.text
    finally:
        await reopened.close()


async def test_new_request_in_the_middle_offers_to_continue(alice: Resident) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Опалення")
    await alice.press("Покровський")
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("req_new")))
    assert "незавершена заявка" in alice.text
    assert "Опалення" in alice.text
    await alice.press("Продовжити")
    assert "персональні дані" in alice.text
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("req_new")))
    await alice.press("Почати заново")
    assert "чого вона стосується" in alice.text


async def test_an_faq_entry_starts_with_its_category(alice: Resident, db_path: Path) -> None:
    await alice.send(
        Incoming(alice.user, Kind.BUTTON, payload=build("req_new", "shelter_condition"))
    )
    assert "районі" in alice.text
    await alice.press("Назад")
    assert "чого вона стосується" in alice.text
    await alice.press("Стан укриття")
    await alice.press("Тернівський")
    await alice.press("Так, погоджуюся")
    await alice.say("Укриття в школі №5")
    await alice.say("Двері укриття замкнені під час тривоги")
    await alice.press("Пропустити")
    await alice.say("0671234567")
    await alice.press("Підтвердити")
    (request,) = await stored(db_path)
    assert request.category is Category.SHELTER_CONDITION
    assert request.urgent


async def test_an_unknown_category_in_the_faq_button_starts_from_the_beginning(
    alice: Resident,
) -> None:
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("req_new", "snow")))
    assert "чого вона стосується" in alice.text


# --- validation -------------------------------------------------------------------------------


async def test_every_step_re_prompts_on_bad_input(alice: Resident, storage: SqliteStorage) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.say("вода")
    assert "Оберіть, будь ласка, категорію" in alice.text
    assert "чого вона стосується" in alice.text
    await alice.press("Водопостачання")
    await alice.say("Київський")
    assert "Оберіть, будь ласка, район" in alice.text
    await alice.say("Тернівський район")  # a typed district is understood
    assert "персональні дані" in alice.text
    await alice.say("можливо")
    assert "«так» або «ні»" in alice.text  # a short reminder, not the whole consent text
    await alice.press("Так, погоджуюся")
    await alice.say("12")
    assert "Адреса закоротка" in alice.text
    await alice.say("в" * 301)
    assert "Адреса задовга (301" in alice.text
    await alice.send(Incoming(alice.user, Kind.STICKER))
    assert "не можу це прийняти" in alice.text
    await alice.say("вул. Світлогірська, 10")
    await alice.say("мало")
    assert "Опис закороткий" in alice.text
    await alice.say("д" * 2001)
    assert "Опис задовгий (2001" in alice.text
    await alice.say("Немає води з ранку")
    await alice.say("ось фото")
    assert "Надішліть, будь ласка, фото" in alice.text
    await alice.say("готово")
    assert "номер телефону" in alice.text
    await alice.say("12345")
    assert "Не вдалося розпізнати" in alice.text
    await alice.say("+48 123")
    assert "Не вдалося розпізнати" in alice.text
    await alice.say("0671234567")
    assert "Перевірте заявку" in [r.title for r in alice.last]
    await alice.say("так, все вірно")
    assert "Перевірте заявку" in [r.title for r in alice.last]
    assert (await state_of(storage, alice.user))[0] == "req.summary"


async def test_a_stale_button_re_asks_the_current_step(
    alice: Resident, storage: SqliteStorage
) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    before = await state_of(storage, alice.user)
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("rq", "cat", "heating")))
    assert "неактуальна" in alice.text
    assert "районі" in alice.text
    assert await state_of(storage, alice.user) == before


async def test_intake_buttons_outside_the_intake_are_stale(alice: Resident) -> None:
    await alice.send(Incoming(alice.user, Kind.BUTTON, payload=build("rq", "ok")))
    assert "неактуальна" in alice.text
    assert "Головне меню" in [r.title for r in alice.last]


# --- phone ------------------------------------------------------------------------------------


async def reach_phone(resident: Resident) -> None:
    await resident.say("/start")
    await resident.press("Нова заявка")
    await resident.press("Водопостачання")
    await resident.press("Тернівський")
    await resident.press("Так, погоджуюся")
    await resident.say("вул. Світлогірська, 10")
    await resident.say("Немає холодної води з ранку")
    await resident.press("Пропустити")


async def test_own_shared_contact_is_taken(alice: Resident) -> None:
    await reach_phone(alice)
    await alice.send(Incoming(alice.user, Kind.CONTACT, contact=Contact("380671234567")))
    assert "+380671234567" in alice.text
    assert "Перевірте заявку" in [r.title for r in alice.last]


async def test_someone_elses_contact_needs_confirmation(alice: Resident) -> None:
    await reach_phone(alice)
    await alice.send(
        Incoming(alice.user, Kind.CONTACT, contact=Contact("+380501112233", own=False))
    )
    assert "не ваш власний контакт" in alice.text
    assert "+380501112233" in alice.text
    await alice.press("введу інший")
    assert "номер телефону" in alice.text
    await alice.send(
        Incoming(alice.user, Kind.CONTACT, contact=Contact("+380501112233", own=False))
    )
    await alice.press("Так")
    assert "+380501112233" in alice.text
    assert "Перевірте заявку" in [r.title for r in alice.last]


async def test_typing_a_number_instead_of_confirming_a_contact(alice: Resident) -> None:
    await reach_phone(alice)
    await alice.send(
        Incoming(alice.user, Kind.CONTACT, contact=Contact("+380501112233", own=False))
    )
    await alice.say("0671234567")
    assert "+380671234567" in alice.text
    assert "+380501112233" not in alice.text


async def test_a_foreign_shared_contact_is_taken_an_invalid_one_refused(alice: Resident) -> None:
    await reach_phone(alice)
    await alice.send(Incoming(alice.user, Kind.CONTACT, contact=Contact("+48 123")))
    assert "Не вдалося розпізнати" in alice.text
    await alice.send(Incoming(alice.user, Kind.CONTACT, contact=Contact("48512345678")))
    assert "Телефон: +48512345678" in alice.text


# --- consent ----------------------------------------------------------------------------------


async def test_refusing_consent_files_nothing_and_says_how_to_call(
    alice: Resident, storage: SqliteStorage, db_path: Path
) -> None:
    await alice.say("/start")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Тернівський")
    await alice.press("❌ Ні")
    assert "1520" in alice.text
    assert "не можемо прийняти заявку" in alice.text
    assert await state_of(storage, alice.user) == ("idle", {})
    async with storage.transaction() as session:
        found = await session.residents.get(alice.user)
    assert found is not None
    assert not found.consent_personal_data
    assert await stored(db_path) == []


# --- the summary ------------------------------------------------------------------------------


async def test_editing_a_field_returns_to_the_summary(alice: Resident, db_path: Path) -> None:
    await reach_phone(alice)
    await alice.say("0671234567")
    await alice.press("Змінити")
    assert "Що саме змінити" in alice.text
    await alice.press("Опис")
    await alice.say("Немає ні холодної, ні гарячої води")
    assert "Перевірте заявку" in [r.title for r in alice.last]
    assert "ні гарячої" in alice.text
    await alice.press("Змінити")
    await alice.press("Категорію")
    await alice.press("Опалення")
    assert "Опалення" in alice.text
    await alice.press("Змінити")
    await alice.press("Телефон")
    await alice.press("Назад")
    assert "Перевірте заявку" in [r.title for r in alice.last]
    await alice.press("Змінити")
    await alice.press("Фото")
    await photo(alice, "new-photo")
    await alice.press("Готово")
    assert "Фото: 1" in alice.text
    await alice.press("Підтвердити")
    (request,) = await stored(db_path)
    assert request.category is Category.HEATING
    assert request.description == "Немає ні холодної, ні гарячої води"
    assert request.photos == ("new-photo",)


async def test_a_failure_while_filing_rolls_everything_back(
    storage: SqliteStorage, clock: ManualClock, db_path: Path
) -> None:
    class Exploding:
        async def request_changed(
            self, session: StoreSession, request: Request, change: StatusChange
        ) -> None:
            raise RuntimeError("something after the card was queued")

    service = make_service(clock)
    service.add_observer(Exploding())
    resident = Resident(
        make_conversation(storage, clock, service=service), UserRef(ChannelName.TELEGRAM, "9")
    )
    replies = await file_water_request(resident)
    assert "технічна помилка" in replies[0].text
    assert "1520-" not in replies[0].text
    assert await stored(db_path) == []
    async with storage.transaction() as session:
        assert (await session.outbox.counts())[OutboxStatus.PENDING] == 0
        state = await session.conversations.load(1)
    # The resident is still at the summary and can try again.
    assert state.step == "req.summary"
