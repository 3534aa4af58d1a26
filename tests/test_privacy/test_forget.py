"""``/forget`` end to end through the conversation: what is erased in every table, what stays."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind, Location, Reply
from domain.payloads import build
from domain.requests import Actor, Status
from fakes.recording import Resident
from handlers.conversation import Conversation
from handlers.followup import FollowupFeature
from handlers.menu import MenuFeature
from handlers.privacy import ErasureOnClosure, PrivacyFeature
from handlers.relay import RelayFeature
from handlers.requests import RequestsFeature
from notifications.stats import Figures, compute_figures
from services.followups import FollowupService
from services.relay import RelayService
from services.requests import RequestService
from storage.consultations import NewConsultation
from storage.outbox import OutboxStatus
from storage.postgres import PostgresStorage
from storage.sqlite import SqliteStorage
from tests.test_handlers.requests_helpers import photo
from tests.test_privacy.scan import scan_storage, storage_table_counts
from tests.test_services.helpers import make_service, texts

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

OPERATOR = Actor.operator(42, "Олена")
ALICE = UserRef(ChannelName.TELEGRAM, "1001")
BOB = UserRef(ChannelName.VIBER, "bob-viber")


@dataclass(frozen=True)
class Person:
    """What one resident tells the bot: each string is unique to them, so a scan finds it."""

    address: str
    description: str
    phone_typed: str
    phone_digits: str
    photo: str
    answer: str
    comment: str
    relay_in: str
    relay_out: str
    question: str
    open_description: str
    open_phone_typed: str
    open_phone_digits: str
    open_photo: str
    open_latitude: float

    def closed_needles(self) -> list[str]:
        """Personal data erased at once (the closed request, relay, comments, questions)."""
        return [
            self.address,
            self.description,
            self.phone_digits,
            self.photo,
            self.answer,
            self.comment,
            self.relay_in,
            self.relay_out,
            self.question,
        ]

    def open_needles(self) -> list[str]:
        """Personal data of the open request, kept until it is closed."""
        return [
            self.open_description,
            self.open_phone_digits,
            self.open_photo,
            str(self.open_latitude),
        ]


ALICE_DATA = Person(
    address="вул. Кобилянського, 77",
    description="У квартирі Оксани Гнатюк немає холодної води",
    phone_typed="067 111 22 33",
    phone_digits="671112233",
    photo="photo-alice-closed",
    answer="Код домофону 4417, під'їзд 2",
    comment="Сантехнік Петро приходив двічі",
    relay_in="Мене звати Оксана Гнатюк, пишу щодо сусідів",
    relay_out="Оксано, ваше звернення записали",
    question="де оксана гнатюк може отримати довідку",
    open_description="Ліхтар не світить біля будинку Гнатюків",
    open_phone_typed="050 222 33 44",
    open_phone_digits="502223344",
    open_photo="photo-alice-open",
    open_latitude=47.912345,
)
BOB_DATA = Person(
    address="просп. Металургів, 5",
    description="Яма біля під'їзду Бориса Коваля",
    phone_typed="097 333 44 55",
    phone_digits="973334455",
    photo="photo-bob-closed",
    answer="Борис чекатиме біля воріт",
    comment="Бригада Коваля працювала швидко",
    relay_in="Борис Коваль пише оператору",
    relay_out="Борисе, дякуємо",
    question="коваль борис питає про субсидію",
    open_description="Сміття не вивозять з двору Ковалів",
    open_phone_typed="063 444 55 66",
    open_phone_digits="634445566",
    open_photo="photo-bob-open",
    open_latitude=47.923456,
)


class World:
    """The conversation with every feature that stores personal data, over one database."""

    def __init__(self, storage: SqliteStorage | PostgresStorage, clock: ManualClock) -> None:
        self.storage = storage
        self.clock = clock
        self.requests: RequestService = make_service(clock)
        self.requests.add_observer(ErasureOnClosure())
        self.followups = FollowupService(
            self.requests, texts(), clock, staff_chat=self.requests.staff_chat
        )
        self.relay = RelayService(texts())
        self.conversation = Conversation(
            storage=storage,
            clock=clock,
            texts=texts(),
            features=[
                RequestsFeature(self.requests),
                FollowupFeature(self.followups),
                RelayFeature(self.relay, available=True),
                PrivacyFeature(),
                MenuFeature(),
            ],
        )

    def resident(self, user: UserRef) -> Resident:
        return Resident(self.conversation, user)

    async def file(
        self,
        resident: Resident,
        *,
        category: str,
        where: str | float,
        description: str,
        photo_ref: str,
        phone: str,
    ) -> int:
        await resident.say("/menu")
        await resident.press("Нова заявка")
        await resident.press(category)
        await resident.press("Тернівський")
        if any("погоджуюся" in label for label in resident.labels):
            await resident.press("Так, погоджуюся")
        if isinstance(where, str):
            await resident.say(where)
        else:
            await resident.send(
                Incoming(resident.user, Kind.LOCATION, location=Location(where, 33.398765))
            )
        await resident.say(description)
        await photo(resident, photo_ref)
        await resident.press("Готово")
        await resident.say(phone)
        await resident.press("Підтвердити")
        assert "1520-" in resident.text, resident.text
        async with self.storage.transaction() as session:
            me = await session.residents.get(resident.user)
            assert me is not None
            mine = await session.requests.list_for_resident(me.id, limit=1)
        return mine[0].id

    async def staff(self, request_id: int, status: Status, note: str | None = None) -> None:
        async with self.storage.transaction() as session:
            await self.requests.change_status(session, request_id, status, OPERATOR, note)

    async def live(self, resident: Resident, data: Person) -> tuple[int, int]:
        """A closed request with an answer, a follow-up comment and photos; an open one; an
        operator conversation; an unanswered question. Returns (closed id, open id)."""
        closed = await self.file(
            resident,
            category="Водопостачання",
            where=data.address,
            description=data.description,
            photo_ref=data.photo,
            phone=data.phone_typed,
        )
        await self.staff(closed, Status.NEEDS_INFO, "Уточніть, будь ласка, під'їзд")
        await resident.say(data.answer)  # the next message answers the question
        assert "1520-" in resident.text
        await self.staff(closed, Status.DONE, "Воду відновлено")
        self.clock.advance(timedelta(hours=25))
        async with self.storage.transaction() as session:
            assert await self.followups.ask_due(session) >= 1
            followup = await session.followups.latest_for_request(closed)
        assert followup is not None
        await resident.send(
            Incoming(resident.user, Kind.BUTTON, payload=build("fu", followup.id, "y"))
        )
        await resident.send(
            Incoming(resident.user, Kind.BUTTON, payload=build("fur", followup.id, 2))
        )
        await resident.say(data.comment)
        await self.deliver_everything()
        opened = await self.file(
            resident,
            category="Вуличне освітлення",
            where=data.open_latitude,
            description=data.open_description,
            photo_ref=data.open_photo,
            phone=data.open_phone_typed,
        )
        await resident.say("/menu")
        await resident.press("Оператор")
        await resident.say(data.relay_in)
        await self.operator_says(resident.user, data.relay_out, 1)
        async with self.storage.transaction() as session:
            me = await session.residents.get(resident.user)
            assert me is not None
            await session.consultations.record(
                NewConsultation(
                    resident_id=me.id,
                    channel=resident.user.channel,
                    topic=None,
                    source="text",
                    matched=False,
                    question=data.question,
                ),
                now=self.clock.now(),
            )
            await session.consultations.record(
                NewConsultation(
                    resident_id=me.id,
                    channel=resident.user.channel,
                    topic="idp_certificate",
                    source="text",
                    matched=True,
                    score=0.9,
                ),
                now=self.clock.now(),
            )
        await resident.say("/menu")
        return closed, opened

    async def operator_says(self, user: UserRef, text: str, number: int) -> int:
        """An operator's answer in the resident's open relay conversation; its id."""
        async with self.storage.transaction() as session:
            me = await session.residents.get(user)
            assert me is not None
            relay = await session.relay.open_for(me.id)
            assert relay is not None
            await self.relay.to_resident(
                session,
                relay.id,
                text=text,
                photo_ref=None,
                author=OPERATOR,
                source_key=f"staff:{relay.id}:{number}",
                now=self.clock.now(),
            )
        return relay.id

    async def deliver_everything(self) -> None:
        """What the outbox worker would do: every waiting message is sent."""
        async with self.storage.transaction() as session:
            for message in await session.outbox.due(now=self.clock.now(), limit=1000):
                await session.outbox.mark_sent(message.id, now=self.clock.now(), sent_ids=["1"])

    async def outbox_statuses(self, prefix: str) -> set[OutboxStatus]:
        async with self.storage.transaction() as session:
            return {
                message.status
                for status in OutboxStatus
                for message in await session.outbox.list(status=status, limit=1000)
                if message.idempotency_key.startswith(prefix)
            }

    async def figures(self) -> Figures:
        async with self.storage.transaction() as session:
            figures = await compute_figures(session, None, now=self.clock.now())
        # The texts of unanswered questions are personal; their counts by topic are not.
        return dataclasses.replace(figures, unanswered=None)

    async def state(self, user: UserRef) -> tuple[str, dict[str, Any]]:
        async with self.storage.transaction() as session:
            me = await session.residents.get(user)
            assert me is not None
            state = await session.conversations.load(me.id)
        return state.step, state.data


@pytest.fixture
async def world(storage: SqliteStorage | PostgresStorage, clock: ManualClock) -> World:
    return World(storage, clock)


@pytest.fixture
async def lived(world: World) -> tuple[World, Resident, Resident, int, int]:
    alice, bob = world.resident(ALICE), world.resident(BOB)
    closed, opened = await world.live(alice, ALICE_DATA)
    await world.live(bob, BOB_DATA)
    return world, alice, bob, closed, opened


async def forget(alice: Resident) -> list[Reply]:
    await alice.say("/forget")
    return await alice.press("Так, стерти")


async def test_before_erasure_every_piece_is_stored_somewhere(
    lived: tuple[World, Resident, Resident, int, int],
) -> None:
    world, *_ = lived
    for data in (ALICE_DATA, BOB_DATA):
        found = await scan_storage(world.storage, [*data.closed_needles(), *data.open_needles()])
        missing = [needle for needle, where in found.items() if not where]
        assert missing == [], "the scenario did not store these, so the test proves nothing"


async def test_confirmation_names_the_open_request_and_what_stays(
    lived: tuple[World, Resident, Resident, int, int],
) -> None:
    _, alice, _, _, opened = lived
    await alice.say("/forget")
    assert "1520-" + f"{opened:06d}" in alice.text
    assert "до їх закриття" in alice.text
    assert "статистика" in alice.text
    assert any("Так, стерти" in label for label in alice.labels)
    assert any("Ні, залишити" in label for label in alice.labels)


async def test_no_keeps_everything(lived: tuple[World, Resident, Resident, int, int]) -> None:
    world, alice, *_ = lived
    before = await scan_storage(world.storage, ALICE_DATA.closed_needles())
    await alice.say("/forget")
    await alice.press("Ні, залишити")
    assert "нічого не стерто" in alice.text
    assert await scan_storage(world.storage, ALICE_DATA.closed_needles()) == before


async def test_yes_erases_the_resident_everywhere_and_only_them(
    lived: tuple[World, Resident, Resident, int, int],
) -> None:
    world, alice, _bob, closed, opened = lived
    alice_relay = await world.operator_says(ALICE, ALICE_DATA.relay_out, 2)  # not sent yet
    assert await world.outbox_statuses(f"relay:{alice_relay}:") == {
        OutboxStatus.SENT,
        OutboxStatus.PENDING,
    }
    figures = await world.figures()
    counts = await storage_table_counts(world.storage)
    bob_before = await scan_storage(
        world.storage, [*BOB_DATA.closed_needles(), *BOB_DATA.open_needles()]
    )

    replies = await forget(alice)

    assert "стерто" in replies[0].text
    assert f"1520-{opened:06d}" in replies[0].text  # kept until closure, and it says so
    leftovers = await scan_storage(world.storage, ALICE_DATA.closed_needles())
    assert {needle: where for needle, where in leftovers.items() if where} == {}
    # The open request keeps what its executor needs, in the requests tables only.
    kept = await scan_storage(world.storage, ALICE_DATA.open_needles())
    assert all(kept.values()), kept
    assert {table for where in kept.values() for table, _column in where} <= {
        "requests",
        "request_photos",
        "outbox",
    }
    # Bob, the other resident, is untouched; the statistics are the same.
    assert (
        await scan_storage(world.storage, [*BOB_DATA.closed_needles(), *BOB_DATA.open_needles()])
        == bob_before
    )
    assert await world.figures() == figures
    after = await storage_table_counts(world.storage)
    # Only the erased photos of the closed request are deleted rows.
    assert {t: n for t, n in after.items() if n != counts[t]} == {
        "request_photos": counts["request_photos"] - 1
    }
    async with world.storage.transaction() as session:
        me = await session.residents.get(ALICE)
        assert me is not None
        assert (me.consent_personal_data, me.consent_at, me.display_name) == (False, None, None)
        assert await session.relay.open_for(me.id) is None
    assert await world.state(ALICE) == ("idle", {})
    # The operator's answer was still waiting: it is not delivered any more.
    assert await world.outbox_statuses(f"relay:{alice_relay}:") == {
        OutboxStatus.SENT,
        OutboxStatus.CANCELLED,
    }
    assert await world.outbox_statuses(f"req:{closed}:") == {OutboxStatus.SENT}


async def test_the_open_request_is_erased_when_it_is_closed(
    lived: tuple[World, Resident, Resident, int, int],
) -> None:
    world, alice, _bob, _closed, opened = lived
    await forget(alice)
    # Still workable: the executor sees the address and the resident hears about progress.
    await world.staff(opened, Status.IN_PROGRESS)
    kept = await scan_storage(world.storage, ALICE_DATA.open_needles())
    assert all(kept.values())
    figures = await world.figures()

    await world.staff(opened, Status.DONE, "Ліхтар замінено")

    leftovers = await scan_storage(
        world.storage, [*ALICE_DATA.closed_needles(), *ALICE_DATA.open_needles()]
    )
    assert {needle: where for needle, where in leftovers.items() if where} == {}
    # The "done" update is still owed to the resident and goes out.
    async with world.storage.transaction() as session:
        statuses = [
            message
            for message in await session.outbox.list(status=OutboxStatus.PENDING, limit=500)
            if message.idempotency_key.startswith(f"req:{opened}:status:")
        ]
    assert statuses, "the resident must still be told their request is done"
    assert (await world.figures()).done == figures.done + 1


async def test_a_stale_yes_erases_nothing(
    lived: tuple[World, Resident, Resident, int, int],
) -> None:
    world, alice, *_ = lived
    before = await scan_storage(world.storage, ALICE_DATA.closed_needles())
    await alice.say("/forget")
    await alice.say("/menu")  # left the confirmation
    await alice.send(Incoming(ALICE, Kind.BUTTON, payload=build("pv", "yes")))
    assert "нічого не стерто" in alice.text
    assert await scan_storage(world.storage, ALICE_DATA.closed_needles()) == before


async def test_no_in_the_middle_of_an_intake_returns_to_it(world: World) -> None:
    alice = world.resident(ALICE)
    await alice.say("/menu")
    await alice.press("Нова заявка")
    await alice.press("Водопостачання")
    await alice.press("Тернівський")
    await alice.press("Так, погоджуюся")
    before = await world.state(ALICE)
    assert before[0] == "req.address"
    await alice.say("/forget")
    await alice.press("Ні, залишити")
    assert "продовжувати" in alice.text
    assert await world.state(ALICE) == before
    await alice.say(ALICE_DATA.address)  # the intake goes on: the address is taken
    step, data = await world.state(ALICE)
    assert step == "req.description"
    assert data["d"]["address"] == ALICE_DATA.address


async def test_forget_in_english(world: World) -> None:
    alice = world.resident(ALICE)
    await alice.say("/start")
    await alice.press("Мова")
    await alice.press("English")
    await alice.say("/forget")
    assert "cannot be undone" in alice.text
    await alice.press("Yes, erase")
    assert "has been erased" in alice.text
