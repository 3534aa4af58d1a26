"""A real aiogram bot polling the fake Bot API, with the staff chat, the relay and the outbox.

Shared by the staff and relay end-to-end tests (no tests of its own): ``StaffWorld`` builds the
bot the way ``bot.app`` does (``build_staff`` + ``get_routers`` + ``create_dispatcher``), runs
long polling against ``FakeTelegramServer``, and delivers the outbox with the real
``OutboxWorker`` when a test calls ``deliver()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.telegram.channel import TelegramChannel
from bot.telegram.runtime import ALLOWED_UPDATES, create_bot, create_dispatcher, get_routers
from bot.telegram.staff import build_staff
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Request, RequestDraft
from domain.texts import Texts
from fakes.recording import RecordingChannel
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from faq.crisis import load_crisis
from handlers.conversation import Conversation
from handlers.crisis import CrisisFeature
from handlers.menu import MenuFeature
from handlers.relay import RelayFeature
from handlers.requests import RequestsFeature
from notifications.replies import ReplySender, keep_replies
from notifications.worker import OutboxWorker
from services.relay import RelayService
from services.relay_forwarder import RelayForwarder
from services.requests import RequestService
from services.routing import Routing, load_routing
from storage.outbox import OutboxMessage, OutboxStatus
from storage.sqlite import SqliteStorage

TOKEN = "123456:TEST"
STAFF_CHAT = -1001234567890
OPERATOR = 700  # in OPERATOR_IDS, not a member of the staff chat
MEMBER = 701  # a member of the staff chat, not in OPERATOR_IDS
STRANGER = 702  # neither
RESIDENT = 5551
CRISIS = load_crisis()  # the shipped crisis answers and rules, loaded once

_TEXTS: Texts | None = None


def texts() -> Texts:
    global _TEXTS  # noqa: PLW0603 - the catalogs are loaded once for the whole run
    if _TEXTS is None:
        _TEXTS = Texts.load()
    return _TEXTS


@dataclass
class StaffWorld:
    """The bot, its storage and the fake server, wired as in production."""

    server: FakeTelegramServer
    storage: SqliteStorage
    clock: ManualClock
    forum: bool
    routing: Routing = field(default_factory=load_routing)
    bot: Bot = field(init=False)
    channel: TelegramChannel = field(init=False)
    requests: RequestService = field(init=False)
    relay: RelayForwarder = field(init=False)
    conversation: Conversation = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    worker: OutboxWorker = field(init=False)
    replies: ReplySender = field(init=False)
    viber: RecordingChannel = field(init=False)
    _polling: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.server.add_chat(STAFF_CHAT, type="supergroup", title="Оператори 1520",
                             is_forum=self.forum)  # fmt: skip
        self.server.chat_members[(STAFF_CHAT, MEMBER)] = "member"
        self.bot = create_bot(TOKEN, self.server.base_url)
        self.channel = TelegramChannel(self.bot)
        staff = UserRef(ChannelName.TELEGRAM, str(STAFF_CHAT))
        self.requests = RequestService(self.routing, texts(), self.clock, staff)
        self.relay = RelayForwarder(
            storage=self.storage, clock=self.clock, service=RelayService(texts())
        )
        relay_feature = RelayFeature(
            self.relay.service, available=True, forward=self.relay.forward_quietly
        )
        self.conversation = Conversation(
            storage=self.storage,
            clock=self.clock,
            texts=texts(),
            features=[
                CrisisFeature(*CRISIS, alert=relay_feature.alert),
                RequestsFeature(self.requests),
                relay_feature,
                MenuFeature(),
            ],
            keep_replies=keep_replies,
        )
        self.replies = ReplySender(self.storage, {ChannelName.TELEGRAM: self.channel}, self.clock)
        routers, data = build_staff(
            self.bot,
            staff_chat_id=STAFF_CHAT,
            operator_ids=frozenset({OPERATOR}),
            database=self.storage,
            clock=self.clock,
            requests=self.requests,
            relay_forwarder=self.relay,
        )
        self.dispatcher = create_dispatcher(
            get_routers(*routers),
            conversation=self.conversation,
            telegram_channel=self.channel,
            reply_sender=self.replies,
            **data,
        )
        self.viber = RecordingChannel(name=ChannelName.VIBER)
        self.worker = OutboxWorker(
            self.storage,
            {ChannelName.TELEGRAM: self.channel, ChannelName.VIBER: self.viber},
            self.clock,
        )

    async def start(self) -> None:
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=1,
                allowed_updates=ALLOWED_UPDATES,
                handle_as_tasks=False,  # as bot.telegram.runtime.run_polling
            )
        )
        await self.server.wait_for(lambda call: call.method == "getUpdates")

    async def stop(self) -> None:
        if self._polling is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await self._polling
        await self.replies.close()
        await self.bot.session.close()

    # --- acting ---------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update; the fake numbers it (the builders' own counter would collide with
        the ids the fake gives button presses, and a repeated id is a redelivery)."""
        return self.server.push_update({k: v for k, v in update.items() if k != "update_id"})

    async def deliver(self) -> None:
        """What the outbox worker would send now (status updates, cards, relayed messages)."""
        await self.worker.drain()

    async def file_request(self, draft: RequestDraft, user_id: int = RESIDENT) -> Request:
        """A resident's request, filed through the service (the intake has its own tests)."""
        async with self.storage.transaction() as session:
            resident = await session.residents.touch(
                UserRef(ChannelName.TELEGRAM, str(user_id)), now=self.clock.now()
            )
            return await self.requests.create(session, resident, draft)

    async def outbox(self, status: OutboxStatus = OutboxStatus.PENDING) -> list[OutboxMessage]:
        async with self.storage.transaction() as session:
            return sorted(await session.outbox.list(status=status, limit=1000), key=lambda m: m.id)

    async def wait_outbox(self, predicate: Callable[[OutboxMessage], bool]) -> OutboxMessage:
        """Wait until the bot has queued a matching message (handlers run in the polling task)."""
        for _ in range(500):
            for message in await self.outbox():
                if predicate(message):
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"nothing matching was queued; pending: {await self.outbox()}")


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for a condition the polling task brings about (no timing is asserted)."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


def sent_to(chat_id: int, *methods: str) -> Callable[[RecordedCall], bool]:
    wanted = set(methods or ("sendMessage", "sendPhoto"))
    return lambda call: call.ok and call.method in wanted and call.chat_id == chat_id


def called(method: str, **params: Any) -> Callable[[RecordedCall], bool]:
    return lambda call: (
        call.method == method
        and all(call.params.get(key) == value for key, value in params.items())
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as fake:
        yield fake


async def make_world(
    server: FakeTelegramServer,
    storage: SqliteStorage,
    clock: ManualClock,
    *,
    forum: bool,
    routing: Routing | None = None,
) -> StaffWorld:
    world = StaffWorld(server, storage, clock, forum=forum, routing=routing or load_routing())
    await world.start()
    return world
