"""The relay service and forwarder against a real SQLite file: sessions, the outbox, closing."""

from __future__ import annotations

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.payloads import parse
from domain.requests import Actor, Category
from handlers.relay import RELAY_STEP, RelayFeature
from services.relay import (
    OUTBOX_KIND_RESIDENT,
    OUTBOX_KIND_STAFF,
    RelayClosed,
    RelayService,
)
from services.relay_forwarder import RelayForwarder
from storage.base import ConversationState, Resident, Storage
from storage.relay import RelaySession
from tests.test_services.helpers import (
    ALICE,
    BOB,
    make_service,
    outbox_of,
    replies,
    resident,
    texts,
)

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

STAFF_CHAT = UserRef(ChannelName.TELEGRAM, "-100777")
TOPIC = UserRef(ChannelName.TELEGRAM, "-100777/55")
OPERATOR = Actor.operator(42, "Олена")


@pytest.fixture
def service() -> RelayService:
    return RelayService(texts())


class CountingDesk:
    """A RelayDesk that hands out one topic and counts how often it was asked."""

    def __init__(self, destination: UserRef | None = TOPIC) -> None:
        self.destination_ref = destination
        self.asked = 0

    async def destination(self, relay: RelaySession, resident: Resident) -> UserRef | None:
        self.asked += 1
        return self.destination_ref


async def open_relay(
    storage: Storage, service: RelayService, who: Resident, clock: ManualClock
) -> RelaySession:
    async with storage.transaction() as session:
        relay, _ = await service.open(session, who, now=clock.now())
    return relay


async def say(
    storage: Storage,
    service: RelayService,
    relay_id: int,
    clock: ManualClock,
    text: str | None,
    photo: str | None = None,
) -> bool:
    async with storage.transaction() as session:
        relay = await session.relay.get(relay_id)
        assert relay is not None
        relayed = await service.from_resident(
            session, relay, text=text, photo_ref=photo, now=clock.now()
        )
    return relayed.forwarded


async def test_opening_twice_resumes_the_same_conversation(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        first, created = await service.open(session, alice, now=clock.now())
        again, created_again = await service.open(session, alice, now=clock.now())
    assert created
    assert not created_again
    assert first.id == again.id


async def test_messages_wait_until_the_forwarder_knows_where_they_go(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock)
    relay = await open_relay(storage, service, alice, clock)
    assert not await say(storage, service, relay.id, clock, "Протікає дах <b>у під'їзді</b>")
    assert await say(storage, service, relay.id, clock, None, photo="file-1") is False
    assert await outbox_of(storage) == []

    desk = CountingDesk()
    forwarder = RelayForwarder(storage=storage, clock=clock, service=service, desk=desk)
    assert await forwarder.forward(relay.id) == 2
    [message] = await outbox_of(storage)
    assert message.chat == TOPIC
    assert message.kind == OUTBOX_KIND_STAFF
    assert message.urgent
    header, text, photo = replies(message)
    assert str(relay.id) in (header.title or "")
    assert [parse(b.payload).action for b in header.all_buttons] == ["relay_close", "relay_req"]  # type: ignore[union-attr]
    assert text.text == "Протікає дах <b>у під'їзді</b>"  # plain text; the adapter escapes it
    assert photo.photo is not None
    assert photo.photo.ref == "file-1"
    assert "380" not in message.body  # the staff never see a phone

    # Known destination: the next message goes at once, without asking the desk again.
    assert await say(storage, service, relay.id, clock, "Ще одне")
    assert await forwarder.forward(relay.id) == 0
    assert desk.asked == 1
    assert [m.kind for m in await outbox_of(storage)] == [OUTBOX_KIND_STAFF] * 2


async def test_without_a_desk_messages_stay_pending_and_the_sweep_sends_them_later(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock)
    relay = await open_relay(storage, service, alice, clock)
    await say(storage, service, relay.id, clock, "Допоможіть")
    forwarder = RelayForwarder(storage=storage, clock=clock, service=service)
    assert await forwarder.sweep() == 0
    forwarder.desk = CountingDesk(STAFF_CHAT)
    assert await forwarder.sweep() == 1
    [message] = await outbox_of(storage)
    assert message.chat == STAFF_CHAT
    # In a plain group every message carries the conversation number.
    assert all(str(relay.id) in (reply.title or "") for reply in replies(message))


async def test_an_operator_answer_reaches_the_resident_once(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock, language="en")
    relay = await open_relay(storage, service, alice, clock)
    for _ in range(2):  # a redelivered staff update queues nothing new
        async with storage.transaction() as session:
            await service.to_resident(
                session,
                relay.id,
                text="Добрий день! Уточніть адресу.",
                photo_ref=None,
                author=OPERATOR,
                source_key="-100777:15",
                now=clock.now(),
            )
    [message] = await outbox_of(storage)
    assert message.chat == ALICE
    assert message.kind == OUTBOX_KIND_RESIDENT
    [reply] = replies(message)
    assert reply.text == "Добрий день! Уточніть адресу."
    assert reply.title == "Contact Center operator"
    assert any("End conversation" in label for label in (b.label for b in reply.all_buttons))
    async with storage.transaction() as session:
        stored = await session.relay.messages(relay.id)
    assert [m.direction.value for m in stored] == ["out"]


async def test_a_telegram_photo_is_not_sent_to_a_viber_resident(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    bob = await resident(storage, BOB, clock)
    relay = await open_relay(storage, service, bob, clock)
    async with storage.transaction() as session:
        outcome = await service.to_resident(
            session,
            relay.id,
            text="Ось схема проїзду",
            photo_ref="AgACAgfile",
            author=OPERATOR,
            source_key="-100777:16",
            now=clock.now(),
        )
        bare = await service.to_resident(
            session,
            relay.id,
            text=None,
            photo_ref="AgACAgfile2",
            author=OPERATOR,
            source_key="-100777:17",
            now=clock.now(),
        )
    assert outcome.photo_dropped
    assert outcome.queued
    assert bare.photo_dropped
    assert not bare.queued
    [message] = await outbox_of(storage)
    assert message.chat == BOB
    [reply] = replies(message)
    assert reply.photo is None
    assert reply.text == "Ось схема проїзду"


async def test_the_resident_ends_only_their_own_conversation(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock)
    bob = await resident(storage, BOB, clock)
    relay = await open_relay(storage, service, alice, clock)
    async with storage.transaction() as session:
        await session.relay.set_staff_chat(relay.id, TOPIC)
        assert not await service.close_by_resident(session, bob, relay.id, now=clock.now())
        assert await service.close_by_resident(session, alice, relay.id, now=clock.now())
        assert not await service.close_by_resident(session, alice, relay.id, now=clock.now())
    [notice] = await outbox_of(storage)
    assert notice.chat == TOPIC
    assert "завершив" in replies(notice)[0].text
    with pytest.raises(RelayClosed):
        async with storage.transaction() as session:
            await service.to_resident(
                session,
                relay.id,
                text="Ви ще тут?",
                photo_ref=None,
                author=OPERATOR,
                source_key="x",
                now=clock.now(),
            )


async def test_an_operator_closing_resets_the_resident_and_tells_them(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    RelayFeature(service, available=True)  # takes the resident out of the relay step
    alice = await resident(storage, ALICE, clock)
    relay = await open_relay(storage, service, alice, clock)
    async with storage.transaction() as session:
        await session.conversations.save(
            alice.id, ConversationState(RELAY_STEP, {"relay_id": relay.id}), now=clock.now()
        )
        await service.close_by_operator(session, relay.id, actor=OPERATOR, now=clock.now())
        state = await session.conversations.load(alice.id)
    assert state.step == "idle"
    [told] = await outbox_of(storage)
    assert told.chat == ALICE
    assert "Оператор завершив розмову" in replies(told)[0].text
    with pytest.raises(RelayClosed):
        async with storage.transaction() as session:
            await service.close_by_operator(session, relay.id, actor=OPERATOR, now=clock.now())


async def test_a_conversation_becomes_a_request_of_the_resident(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    requests = make_service(clock)
    alice = await resident(storage, ALICE, clock)
    relay = await open_relay(storage, service, alice, clock)
    await say(storage, service, relay.id, clock, "У дворі повалене дерево")
    await say(storage, service, relay.id, clock, "перекрило проїзд", photo="file-9")
    async with storage.transaction() as session:
        request = await service.to_request(
            session, relay.id, actor=OPERATOR, create=requests.create, now=clock.now()
        )
        closed = await session.relay.get(relay.id)
    assert request.resident_id == alice.id
    assert request.category is Category.OTHER
    assert request.description == "У дворі повалене дерево\nперекрило проїзд"
    assert request.photos == ("file-9",)
    assert closed is not None
    assert not closed.is_open
    assert closed.request_id == request.id
    kinds = {(m.kind, m.chat) for m in await outbox_of(storage)}
    assert ("card", requests.staff_chat) in kinds
    told = [m for m in await outbox_of(storage) if m.chat == ALICE]
    assert any(request.number in replies(m)[0].text for m in told)


async def test_a_reply_to_a_delivered_relay_message_finds_its_conversation(
    storage: Storage, clock: ManualClock, service: RelayService
) -> None:
    alice = await resident(storage, ALICE, clock)
    relay = await open_relay(storage, service, alice, clock)
    await say(storage, service, relay.id, clock, "Алло")
    forwarder = RelayForwarder(
        storage=storage, clock=clock, service=service, desk=CountingDesk(STAFF_CHAT)
    )
    await forwarder.forward(relay.id)
    [message] = await outbox_of(storage)
    async with storage.transaction() as session:
        # What the delivery worker records once Telegram accepted the messages.
        await session.outbox.mark_sent(message.id, now=clock.now(), sent_ids=["700", "701"])
    staff = UserRef(ChannelName.TELEGRAM, "-100777")
    async with storage.transaction() as session:
        find = session.relay.session_by_staff_message
        # Another channel's chat with the same id is another chat.
        assert await find(UserRef(ChannelName.VIBER, "-100777"), "701") is None
        assert await find(staff, "701") == relay.id
        assert await find(staff, "999") is None
        assert await find(UserRef(ChannelName.TELEGRAM, "-100888"), "701") is None
        assert await find(staff, "700") == relay.id


async def test_one_topic_per_resident_whatever_is_recorded_twice(
    storage: Storage, clock: ManualClock
) -> None:
    alice = await resident(storage, ALICE, clock)
    async with storage.transaction() as session:
        first = await session.relay.add_topic("-100777", alice.id, 55, now=clock.now())
        second = await session.relay.add_topic("-100777", alice.id, 56, now=clock.now())
        assert await session.relay.resident_by_topic("-100777", 55) == alice.id
        assert await session.relay.resident_by_topic("-100777", 56) is None
    assert first == second == 55
