"""Shared pieces of the notification tests: channels that fail on demand, requests, residents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from domain.channel import DeliveryError, Sent
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from domain.requests import Actor, Category, District, Request, RequestDraft, Status
from domain.texts import Texts
from services.codec import decode_replies
from services.requests import RequestService
from services.routing import load_routing
from storage.base import Resident, Storage
from storage.outbox import OutboxMessage, OutboxStatus

STAFF = UserRef(ChannelName.TELEGRAM, "-100500")
ALICE = UserRef(ChannelName.TELEGRAM, "1001")
BOB = UserRef(ChannelName.TELEGRAM, "1002")
OPERATOR = Actor.operator(700, "Олена")

WATER = RequestDraft(
    category=Category.WATER,
    description="Немає холодної води з самого ранку",
    district=District.TERNIVSKYI,
    address="вул. Світлогірська, 10",
    phone="067 123 45 67",
)

_TEXTS: Texts | None = None


def texts() -> Texts:
    global _TEXTS  # noqa: PLW0603 - the catalogs are loaded once for the whole run
    if _TEXTS is None:
        _TEXTS = Texts.load()
    return _TEXTS


def make_requests(clock: ManualClock, *, staff: UserRef | None = STAFF) -> RequestService:
    return RequestService(load_routing(), texts(), clock, staff)


@dataclass
class ScriptedChannel:
    """A channel whose next sends to a chat fail as scripted, then succeed and are recorded.

    ``failures[chat]`` is a list of errors raised one per send call (in order).
    """

    name: ChannelName = ChannelName.TELEGRAM
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)
    failures: dict[UserRef, list[DeliveryError]] = field(default_factory=dict)
    calls: int = 0

    def fail(self, chat: UserRef, *errors: DeliveryError) -> None:
        self.failures.setdefault(chat, []).extend(errors)

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        self.calls += 1
        pending = self.failures.get(chat)
        if pending:
            raise pending.pop(0)
        result = []
        for reply in replies:
            self.sent.append((chat, reply))
            result.append(Sent(str(len(self.sent))))
        return result

    def texts(self, chat: UserRef | None = None) -> list[str]:
        return [reply.text for to, reply in self.sent if chat is None or to == chat]


async def resident(
    storage: Storage, user: UserRef, clock: ManualClock, *, language: str = "uk"
) -> Resident:
    async with storage.transaction() as session:
        found = await session.residents.touch(user, now=clock.now())
        if language != "uk":
            await session.residents.set_language(found.id, language)
        again = await session.residents.get_by_id(found.id)
    assert again is not None
    return again


async def file_request(
    storage: Storage, service: RequestService, user: UserRef, clock: ManualClock,
    draft: RequestDraft = WATER,
) -> Request:  # fmt: skip
    async with storage.transaction() as session:
        who = await session.residents.touch(user, now=clock.now())
        return await service.create(session, who, draft)


async def set_status(
    storage: Storage, service: RequestService, request_id: int, status: Status,
    note: str | None = None,
) -> Request:  # fmt: skip
    async with storage.transaction() as session:
        return await service.change_status(session, request_id, status, OPERATOR, note)


async def messages(storage: Storage, status: OutboxStatus | None = None) -> list[OutboxMessage]:
    async with storage.transaction() as session:
        found: list[OutboxMessage] = []
        for each in [status] if status else list(OutboxStatus):
            found.extend(await session.outbox.list(status=each, limit=10_000))
    return sorted(found, key=lambda message: message.id)


def replies(message: OutboxMessage) -> list[Reply]:
    return decode_replies(message.body)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
