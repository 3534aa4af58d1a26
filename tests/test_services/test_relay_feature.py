"""The resident's side of the relay through the conversation engine, once per channel."""

from __future__ import annotations

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind, Photo
from domain.payloads import build
from domain.requests import Actor
from fakes.recording import Resident
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from handlers.relay import RELAY_STEP, RelayFeature
from services.relay import RelayService
from services.relay_forwarder import RelayForwarder
from storage.base import Resident as ResidentRecord
from storage.relay import RelaySession
from storage.sqlite import SqliteStorage
from tests.test_services.helpers import outbox_of, replies, texts

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

STAFF_CHAT = UserRef(ChannelName.TELEGRAM, "-100777")


class StaffChatDesk:
    """Every conversation goes to the staff chat itself (a plain group)."""

    def __init__(self) -> None:
        self.asked = 0

    async def destination(self, relay: RelaySession, resident: ResidentRecord) -> UserRef:
        self.asked += 1
        return STAFF_CHAT


@pytest.fixture(params=[ChannelName.TELEGRAM, ChannelName.VIBER])
def channel(request: pytest.FixtureRequest) -> ChannelName:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def forwarder(storage: SqliteStorage, clock: ManualClock) -> RelayForwarder:
    return RelayForwarder(
        storage=storage, clock=clock, service=RelayService(texts()), desk=StaffChatDesk()
    )


def conversation(
    storage: SqliteStorage, clock: ManualClock, forwarder: RelayForwarder, *, available: bool
) -> Conversation:
    feature = RelayFeature(
        forwarder.service, available=available, forward=forwarder.forward_quietly
    )
    return Conversation(
        storage=storage, clock=clock, texts=texts(), features=[feature, MenuFeature()]
    )


@pytest.fixture
def person(
    storage: SqliteStorage, clock: ManualClock, forwarder: RelayForwarder, channel: ChannelName
) -> Resident:
    return Resident(conversation(storage, clock, forwarder, available=True), UserRef(channel, "77"))


async def state_of(storage: SqliteStorage, user: UserRef) -> str:
    async with storage.transaction() as session:
        found = await session.residents.get(user)
        assert found is not None
        return (await session.conversations.load(found.id)).step


async def test_without_a_staff_chat_the_resident_gets_the_phone_numbers(
    storage: SqliteStorage, clock: ManualClock, forwarder: RelayForwarder
) -> None:
    person = Resident(
        conversation(storage, clock, forwarder, available=False),
        UserRef(ChannelName.TELEGRAM, "5"),
    )
    await person.say("/start")
    await person.press("Оператор")
    assert "1520" in person.text
    assert await state_of(storage, person.user) == "idle"


async def test_messages_go_to_the_operators_and_the_resident_can_finish(
    person: Resident, storage: SqliteStorage, forwarder: RelayForwarder
) -> None:
    await person.say("/start")
    await person.press("Оператор")
    assert "оператором" in person.text
    assert await state_of(storage, person.user) == RELAY_STEP

    await person.say("Не працює ліфт, а мама на 9 поверсі")
    assert "передано оператору" in person.text
    assert await person.say("Вона не може вийти") == []  # no noise after the first
    await person.send(Incoming(person.user, Kind.PHOTO, photo=Photo("pic-1", caption="ось")))
    staff = [m for m in await outbox_of(storage) if m.chat == STAFF_CHAT]
    bodies = [reply.text for message in staff for reply in replies(message)]
    assert "Не працює ліфт, а мама на 9 поверсі" in bodies
    assert "Вона не може вийти" in bodies
    assert any(r.photo and r.photo.ref == "pic-1" for m in staff for r in replies(m))
    assert isinstance(forwarder.desk, StaffChatDesk)
    assert forwarder.desk.asked == 1

    await person.send(Incoming(person.user, Kind.STICKER))
    assert "текст або фото" in person.text

    await person.say("/start")  # a command still works, and leaves the conversation open
    await person.press("Оператор")
    assert "триває" in person.text
    await person.press("Завершити розмову")
    assert "завершено" in person.text
    assert await state_of(storage, person.user) == "idle"
    await person.say("Ще питання")
    staff_after = [m for m in await outbox_of(storage) if m.chat == STAFF_CHAT]
    assert all(
        "Ще питання" not in reply.text for message in staff_after for reply in replies(message)
    )


async def test_a_resident_cannot_end_someone_elses_conversation(
    storage: SqliteStorage, clock: ManualClock, forwarder: RelayForwarder, person: Resident
) -> None:
    await person.say("/start")
    await person.press("Оператор")
    other = Resident(person.conversation, UserRef(ChannelName.TELEGRAM, "999"))
    async with storage.transaction() as session:
        found = await session.residents.get(person.user)
        assert found is not None
        relay = await session.relay.open_for(found.id)
        assert relay is not None
    await other.send(Incoming(other.user, Kind.BUTTON, payload=build("relay_end", relay.id)))
    assert "уже завершена" in other.text
    async with storage.transaction() as session:
        still = await session.relay.get(relay.id)
    assert still is not None
    assert still.is_open


async def test_after_the_operator_closes_the_next_message_is_not_relayed(
    storage: SqliteStorage, clock: ManualClock, forwarder: RelayForwarder, person: Resident
) -> None:
    await person.say("/start")
    await person.press("Оператор")
    await person.say("Перше")
    async with storage.transaction() as session:
        found = await session.residents.get(person.user)
        assert found is not None
        relay = await session.relay.open_for(found.id)
        assert relay is not None
        await forwarder.service.close_by_operator(
            session, relay.id, actor=Actor.operator(1, "Олена"), now=clock.now()
        )
    replies_now = await person.say("Друге")
    assert replies_now  # answered as an idle message, not swallowed
    async with storage.transaction() as session:
        messages = await session.relay.messages(relay.id)
    assert [m.text for m in messages] == ["Перше"]
