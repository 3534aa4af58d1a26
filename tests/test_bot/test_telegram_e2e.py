"""``python -m bot`` as a process against the fake Telegram Bot API server over real HTTP."""

from __future__ import annotations

import asyncio
import html
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from domain.payloads import build
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from faq.content_model import SHORT_MAX_CHARS
from faq.knowledge import load_knowledge_base
from handlers.consult import MAX_RELATED

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
RESIDENT = 5551


def text_update(
    text: str, *, user_id: int = RESIDENT, update_id: int | None = None
) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Оксана", "language_code": "uk"}
    update: dict[str, Any] = {
        "message": {
            "message_id": 1,
            "date": 1_764_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Оксана"},
            "from": user,
            "text": text,
        }
    }
    if update_id is not None:
        update["update_id"] = update_id
    return update


class BotProcess:
    """The bot as a child process, started and killed like in production."""

    def __init__(self, server: FakeTelegramServer, database: Path) -> None:
        self.server = server
        self.database = database
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.server.base_url,
            "DATABASE_URL": f"sqlite:///{self.database}",
            "WEBHOOK_BASE_URL": "",
            "VIBER_TOKEN": "",
            "LOG_LEVEL": "INFO",
            "OPS_PORT": "",  # no ops listener: 8081 may be taken by another run
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        # getUpdates is recorded when its long poll ends; deleteWebhook comes right before it.
        await self.server.wait_for(
            lambda call: call.method == "deleteWebhook", start=len(self.server.calls), timeout=60
        )

    async def stop(self, sig: int = signal.SIGTERM) -> bytes:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        _, stderr = await asyncio.wait_for(self.process.communicate(), timeout=30)
        self.process = None
        return stderr


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(server, tmp_path / "bot.sqlite3")
    await process.start()
    try:
        yield process
    finally:
        if process.process is not None:
            stderr = await process.stop()
            # The logs of a whole run carry ids, never a token or what the resident typed.
            assert TOKEN.encode() not in stderr


def buttons(call: RecordedCall) -> list[dict[str, Any]]:
    markup = call.reply_markup or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


async def next_sent(server: FakeTelegramServer, start: int, count: int = 1) -> list[RecordedCall]:
    return await server.wait_for_sent(RESIDENT, count=count, start=start, timeout=30)


async def test_start_gives_the_menu_as_an_inline_keyboard(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("/start"))
    sent = await next_sent(server, mark, 2)
    assert "Контакт-центру" in (sent[0].text or "")
    labels = [button["text"] for button in buttons(sent[1])]
    assert any("Консультація" in label for label in labels)
    assert all(len(button["callback_data"].encode()) <= 64 for button in buttons(sent[1]))
    assert sent[1].params.get("parse_mode") == "HTML"


async def test_a_button_press_moves_on_and_the_query_is_answered(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("/start"))
    menu = (await next_sent(server, mark, 2))[1]
    mark = len(server.calls)
    server.press_button(RESIDENT, menu.result["message_id"], text="ℹ️ Про контакт-центр")
    about = await next_sent(server, mark)
    assert "(056) 49-9-15-20" in (about[0].text or "")
    await server.wait_for(lambda call: call.method == "answerCallbackQuery", start=mark)


async def test_user_text_is_escaped_for_telegram_html(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("<b>укриття</b> & <script>"))
    sent = await next_sent(server, mark)
    assert sent[0].ok


async def test_a_redelivered_update_is_answered_once(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("/help", update_id=9001))
    await next_sent(server, mark)
    server.push_update(text_update("/help", update_id=9001))
    server.push_update(text_update("/about", update_id=9002))
    sent = await next_sent(server, mark, 2)
    assert "Як користуватися" in (sent[0].text or "")
    assert "(056) 49-9-15-20" in (sent[1].text or "")
    assert len(server.sent_messages(RESIDENT)) == 2


async def test_a_restart_keeps_the_conversation_state(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("/start"))
    menu = (await next_sent(server, mark, 2))[1]
    mark = len(server.calls)
    server.press_button(RESIDENT, menu.result["message_id"], text="🌐 Мова / Language")
    choice = (await next_sent(server, mark))[0]
    mark = english = len(server.calls)
    server.press_button(RESIDENT, choice.result["message_id"], text="🇬🇧 English")
    await next_sent(server, mark, 2)

    await bot.stop(signal.SIGKILL)
    await bot.start()
    mark = len(server.calls)
    server.push_update(text_update("/menu"))
    # The kill may come before the last reply was marked sent: it is sent again once its
    # lease runs out (at most the replies in flight repeat), so the menu is looked for after
    # it, and every message since the choice is in English.
    await server.wait_for(
        lambda call: call.is_sent_message and "Main menu" in (call.text or ""),
        start=mark,
        timeout=30,
    )
    since = server.calls[english:]
    repeated = {call.text for call in server.sent_messages(RESIDENT) if call in since}
    assert all("Main menu" in text or "English" in text for text in repeated if text)


async def test_a_person_in_danger_gets_the_emergency_number_first(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    mark = len(server.calls)
    server.push_update(text_update("хочу покінчити з собою"))
    [sent] = await next_sent(server, mark)
    text = sent.text or ""
    assert text.splitlines()[0].startswith("<b>🆘")
    assert "7333" in text.splitlines()[2]
    assert "112" in text.splitlines()[3]


async def test_a_shared_location_gets_the_three_nearest_shelters(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    update = text_update("")
    message = update["message"]
    del message["text"]
    message["location"] = {"latitude": 47.91, "longitude": 33.39}
    mark = len(server.calls)
    server.push_update(update)
    sent = await next_sent(server, mark, 2)
    assert (sent[0].text or "").count("openstreetmap.org") == 3
    assert sent[1].method == "sendLocation"


def shown(call: RecordedCall) -> tuple[str, str]:
    """The title (bold on the first line) and the body of a sent message, as the person reads
    them."""
    title, body = html.unescape(call.text or "").split("\n", 1)
    return title.removeprefix("<b>").removesuffix("</b>"), body


async def test_a_short_answer_more_details_and_related_topics(
    server: FakeTelegramServer, bot: BotProcess
) -> None:
    kb = load_knowledge_base()
    shelters = kb.entry("shelters")
    related = [kb.entry(i) for i in shelters.related[:MAX_RELATED]]
    mark = len(server.calls)
    server.push_update(text_update("де найближче укриття"))
    [answer] = await next_sent(server, mark)
    title, body = shown(answer)
    assert title == shelters.title.uk
    assert body.startswith(shelters.short.uk)
    assert len(body) <= SHORT_MAX_CHARS
    assert "Джерела" not in body
    rows = (answer.reply_markup or {})["inline_keyboard"]
    # The action comes first, then "More details", the related topics, 👍/👎 and the menu.
    assert [button["callback_data"] for button in rows[0]] == [build("shelter")]
    assert rows[1][0]["text"] == "📖 Детальніше"
    assert [row[0]["text"] for row in rows[2:5]] == ["➡️ " + t.title.uk for t in related]
    assert [button["text"][0] for button in rows[5]] == ["👍", "👎"]

    mark = len(server.calls)
    server.press_button(RESIDENT, answer.result["message_id"], text="📖 Детальніше")
    [details] = await next_sent(server, mark)
    assert shown(details)[1].startswith(shelters.answer.uk)
    assert "Джерела: ДСНС України (https://dsns.gov.ua)" in shown(details)[1]
    labels = [button["text"] for button in buttons(details)]
    assert "📖 Детальніше" not in labels
    assert labels.index("🛡 Знайти найближче укриття") < labels.index("👍 Так")

    mark = len(server.calls)
    server.press_button(RESIDENT, answer.result["message_id"], text="➡️ " + related[0].title.uk)
    [opened] = await next_sent(server, mark)
    assert shown(opened) == (
        related[0].title.uk,
        related[0].short.uk + "\n\nЧи була ця відповідь корисною?",
    )

    # A "More details" button left on an old message for a topic the content no longer has.
    query = {
        "id": "stale-1",
        "from": {"id": RESIDENT, "is_bot": False, "first_name": "Оксана"},
        "message": server.message(RESIDENT, answer.result["message_id"]),
        "chat_instance": "1",
        "data": build("faqd", "no_such_topic", 1),
    }
    mark = len(server.calls)
    server.push_update({"callback_query": query})
    [stale] = await next_sent(server, mark)
    assert "Цієї теми вже немає в довідці" in (stale.text or "")
