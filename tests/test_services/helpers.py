"""Shared pieces of the service tests: a service over the shipped routing, residents, drafts."""

from __future__ import annotations

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from domain.requests import Category, District, RequestDraft
from domain.texts import Texts
from services.codec import decode_replies
from services.requests import RequestService
from services.routing import Routing, load_routing
from storage.base import Resident, Storage, StoreSession
from storage.outbox import OutboxMessage, OutboxStatus

STAFF = UserRef(ChannelName.TELEGRAM, "-100500")
ALICE = UserRef(ChannelName.TELEGRAM, "1001")
BOB = UserRef(ChannelName.VIBER, "bob-viber")

WATER = RequestDraft(
    category=Category.WATER,
    description="Немає холодної води з самого ранку <b>у всьому будинку</b>",
    district=District.TERNIVSKYI,
    address="вул. Світлогірська, 10",
    phone="067 123 45 67",
    photos=("photo-1", "photo-2"),
)
ROADS = RequestDraft(
    category=Category.ROADS_YARDS,
    description="Глибока яма у дворі біля під'їзду",
    district=District.POKROVSKYI,
    latitude=47.95,
    longitude=33.42,
)

_TEXTS: Texts | None = None


def texts() -> Texts:
    global _TEXTS  # noqa: PLW0603 - loading the catalogs once keeps the tests quick
    if _TEXTS is None:
        _TEXTS = Texts.load()
    return _TEXTS


def make_service(
    clock: ManualClock, *, staff: UserRef | None = STAFF, routing: Routing | None = None
) -> RequestService:
    return RequestService(routing or load_routing(), texts(), clock, staff)


async def resident(
    storage: Storage, user: UserRef, clock: ManualClock, *, language: str = "uk"
) -> Resident:
    async with storage.transaction() as session:
        found = await session.residents.touch(user, now=clock.now())
        if language != "uk":
            await session.residents.set_language(found.id, language)
            found = await session.residents.get_by_id(found.id)  # type: ignore[assignment]
    assert found is not None
    return found


async def outbox(session: StoreSession) -> list[OutboxMessage]:
    return sorted(
        await session.outbox.list(status=OutboxStatus.PENDING, limit=1000), key=lambda m: m.id
    )


async def outbox_of(storage: Storage) -> list[OutboxMessage]:
    async with storage.transaction() as session:
        return await outbox(session)


def replies(message: OutboxMessage) -> list[Reply]:
    return decode_replies(message.body)
