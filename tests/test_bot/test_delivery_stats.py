"""Staff statistics commands through a real aiogram bot polling the fake Bot API: /stats answers
with figures and a chart, /export with a CSV (phones for operators only), /outbox with dead
letters and a retry button; nobody else gets any of it."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram import Bot, Dispatcher

from bot.telegram.channel import TelegramChannel
from bot.telegram.runtime import ALLOWED_UPDATES, create_bot, create_dispatcher, get_routers
from bot.telegram.stats import StaffStats
from bot.telegram.stats import create_router as stats_router
from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from fakes.telegram_api import FakeTelegramServer, RecordedCall, UploadedFile
from fakes.telegram_updates import group_message_update, message_update
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from notifications.charts import PNG_SIGNATURE
from notifications.replies import ReplySender
from notifications.stats import Labels
from services.outbox import enqueue
from storage.outbox import OutboxStatus
from storage.sqlite import SqliteStorage
from tests.test_notifications.helpers import file_request, make_requests, texts

TOKEN = "123456:TEST"
STAFF_CHAT = -1001234567890
OPERATOR = 700  # in OPERATOR_IDS
MEMBER = 701  # writes in the staff chat
STRANGER = 702
RESIDENT = 5551


@dataclass
class StaffBot:
    server: FakeTelegramServer
    storage: SqliteStorage
    clock: ManualClock
    bot: Bot
    dispatcher: Dispatcher

    async def say(
        self, update: dict[str, object], chat_id: int, count: int = 1
    ) -> list[RecordedCall]:
        start = len(self.server.calls)
        self.server.push_update(update)
        return await self.server.wait_for_sent(chat_id, count=count, start=start)


@pytest.fixture
async def staff(storage: SqliteStorage, clock: ManualClock) -> AsyncIterator[StaffBot]:
    async with FakeTelegramServer(token=TOKEN) as server:
        server.add_chat(STAFF_CHAT, type="supergroup", title="Оператори 1520")
        bot = create_bot(TOKEN, server.base_url)
        conversation = Conversation(
            storage=storage, clock=clock, texts=texts(), features=[MenuFeature()]
        )
        staff_stats = StaffStats(
            storage=storage,
            clock=clock,
            texts=texts(),
            staff_chat_id=STAFF_CHAT,
            operator_ids=frozenset({OPERATOR}),
            labels=Labels(texts()),
        )
        channel = TelegramChannel(bot)
        replies = ReplySender(storage, {ChannelName.TELEGRAM: channel}, clock)
        dispatcher = create_dispatcher(
            get_routers(stats_router()),
            conversation=conversation,
            telegram_channel=channel,
            reply_sender=replies,
            staff_stats=staff_stats,
        )
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=1,
                allowed_updates=ALLOWED_UPDATES,
                handle_as_tasks=False,
            )
        )
        await server.wait_for(lambda call: call.method == "getUpdates")
        service = make_requests(clock)
        await file_request(storage, service, UserRef(ChannelName.TELEGRAM, str(RESIDENT)), clock)
        try:
            yield StaffBot(server, storage, clock, bot, dispatcher)
        finally:
            with contextlib.suppress(RuntimeError):
                await dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            await replies.close()
            await bot.session.close()


def csv_rows(call: RecordedCall) -> list[list[str]]:
    document = call.params["document"]
    assert isinstance(document, UploadedFile)
    return list(csv.reader(io.StringIO(document.content.decode("utf-8-sig"))))


async def test_stats_in_the_staff_chat_answers_with_figures_and_a_chart(staff: StaffBot) -> None:
    text, photo = await staff.say(
        group_message_update(STAFF_CHAT, MEMBER, "/stats today"), STAFF_CHAT, 2
    )
    assert text.method == "sendMessage"
    assert "Статистика за 25.11.2026" in (text.text or "")
    assert "Нових заявок: 1" in (text.text or "")
    assert photo.method == "sendPhoto"
    image = photo.params["photo"]
    assert isinstance(image, UploadedFile)
    assert image.content.startswith(PNG_SIGNATURE)


async def test_a_bad_period_gets_examples(staff: StaffBot) -> None:
    [answer] = await staff.say(
        group_message_update(STAFF_CHAT, MEMBER, "/stats вчора-позавчора"), STAFF_CHAT
    )
    assert "/stats 7d" in (answer.text or "")


async def test_export_has_phones_only_for_operators(staff: StaffBot) -> None:
    [member] = await staff.say(
        group_message_update(STAFF_CHAT, MEMBER, "/export today"), STAFF_CHAT
    )
    assert member.method == "sendDocument"
    rows = csv_rows(member)
    assert "phone" not in rows[0]
    assert len(rows) == 2
    [operator] = await staff.say(message_update(OPERATOR, "/export today"), OPERATOR)
    rows = csv_rows(operator)
    assert rows[1][rows[0].index("phone")] == "'+380671234567"


async def test_nobody_else_gets_statistics(staff: StaffBot) -> None:
    [answer] = await staff.say(message_update(STRANGER, "/stats"), STRANGER)
    # The ordinary conversation answered; no figures, no chart, no file.
    assert "Статистика" not in (answer.text or "")
    assert answer.method == "sendMessage"
    assert staff.server.sent_messages(STAFF_CHAT) == []


async def test_outbox_lists_dead_letters_and_a_button_retries_one(staff: StaffBot) -> None:
    chat = UserRef(ChannelName.TELEGRAM, "9999")
    async with staff.storage.transaction() as session:
        await enqueue(
            session,
            key="lost",
            chat=chat,
            replies=[Reply("x")],
            kind="status",
            now=staff.clock.now(),
        )
        message = await session.outbox.by_key("lost")
        assert message is not None
        await session.outbox.mark_dead(message.id, error="gave up after 8 attempts: 502")
    [report] = await staff.say(group_message_update(STAFF_CHAT, MEMBER, "/outbox"), STAFF_CHAT)
    assert "не доставлено: 1" in (report.text or "")
    assert f"v1:obx:{message.id}" in report.button_data
    start = len(staff.server.calls)
    staff.server.press_button(
        STAFF_CHAT, report.result["message_id"], data=f"v1:obx:{message.id}", user_id=MEMBER
    )
    await staff.server.wait_for(lambda call: call.method == "answerCallbackQuery", start=start)
    async with staff.storage.transaction() as session:
        again = await session.outbox.get(message.id)
    assert again is not None
    assert again.status is OutboxStatus.PENDING


async def test_outbox_shows_the_month_bill_of_each_channel_that_counted_one(
    staff: StaffBot,
) -> None:
    month = staff.clock.now().astimezone(staff.clock.tz).strftime("%Y-%m")
    [before] = await staff.say(group_message_update(STAFF_CHAT, MEMBER, "/outbox"), STAFF_CHAT)
    assert " за " + month not in (before.text or "")
    async with staff.storage.transaction() as session:
        await session.stats.count_proactive(ChannelName.VIBER, month, billed=2, held=1)
    [report] = await staff.say(group_message_update(STAFF_CHAT, MEMBER, "/outbox"), STAFF_CHAT)
    text = report.text or ""
    assert f"Viber за {month}: платних повідомлень 2, безкоштовних 0, відкладено 1" in text
    assert f"Telegram за {month}" not in text
