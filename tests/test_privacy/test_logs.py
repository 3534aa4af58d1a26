"""``python -m bot`` at LOG_LEVEL=DEBUG through a whole request with a shared phone number and
``/forget``: its logs carry ids, never the phone, the token, the name or what the resident typed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fakes.telegram_api import FakeTelegramServer, RecordedCall
from fakes.telegram_updates import contact_update, message_update

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "7654321:AAH-privacy-test-token_Zq9"
RESIDENT = 777_001
NAME = "Оксана"
PHONE = "+380671112233"
ADDRESS = "вул. Кобилянського, 77"
DESCRIPTION = "У квартирі Гнатюків немає холодної води"
QUESTION = "Чи правда, що Петрусенко отримав компенсацію"


def _fresh(update: dict[str, Any]) -> dict[str, Any]:
    """Without its id: the fake numbers it after the button presses it pushed itself."""
    return {key: value for key, value in update.items() if key != "update_id"}


class Chat:
    """One resident talking to the bot process through the fake Bot API."""

    def __init__(self, server: FakeTelegramServer) -> None:
        self.server = server

    async def say(self, text: str, *, first: bool = False) -> list[RecordedCall]:
        """Send a text; the first one waits for the bot's start-up too."""
        mark = len(self.server.calls)
        self.server.push_update(_fresh(message_update(RESIDENT, text, first_name=NAME)))
        return await self.server.wait_for_sent(RESIDENT, start=mark, timeout=90 if first else 30)

    async def share_phone(self) -> list[RecordedCall]:
        mark = len(self.server.calls)
        self.server.push_update(_fresh(contact_update(RESIDENT, PHONE, first_name=NAME)))
        return await self.server.wait_for_sent(RESIDENT, start=mark, timeout=30)

    async def press(self, label: str) -> list[RecordedCall]:
        """Press the newest button with ``label`` (waiting for it: replies come in parts)."""
        for _ in range(300):
            for call in reversed(self.server.sent_messages(RESIDENT)):
                markup = call.reply_markup or {}
                for row in markup.get("inline_keyboard", []):
                    for button in row:
                        if label in button.get("text", "") and "callback_data" in button:
                            mark = len(self.server.calls)
                            self.server.press_button(
                                RESIDENT, call.result["message_id"], data=button["callback_data"]
                            )
                            return await self.server.wait_for_sent(RESIDENT, start=mark, timeout=30)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no button {label!r} in what the bot sent")


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as fake:
        yield fake


async def run_bot(server: FakeTelegramServer, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": server.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        "WEBHOOK_BASE_URL": "",
        "VIBER_TOKEN": "",
        "STAFF_CHAT_ID": "",
        "LOG_LEVEL": "DEBUG",
        "OPS_PORT": "",  # no ops listener: 8081 may be taken by another run
    }
    # A file, not a pipe: DEBUG output of a whole conversation would fill a pipe and block.
    log = (tmp_path / "bot.log").open("wb")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()
    return process


async def test_debug_logs_of_a_whole_run_hold_no_personal_data(
    server: FakeTelegramServer, tmp_path: Path
) -> None:
    process = await run_bot(server, tmp_path)
    try:
        chat = Chat(server)
        # Queued before the bot polls: the first getUpdates returns it at once (the start-up
        # itself takes seconds, mostly importing aiogram).
        await chat.say("/start", first=True)
        await chat.press("Нова заявка")
        await chat.press("Водопостачання")
        await chat.press("Тернівський")
        await chat.press("Так, погоджуюся")
        await chat.say(ADDRESS)
        await chat.say(DESCRIPTION)
        await chat.press("Пропустити")
        await chat.share_phone()
        created = await chat.press("Підтвердити")
        assert any("1520-" in (call.text or "") for call in created)
        await chat.say(QUESTION)
        await chat.say("/forget")
        erased = await chat.press("Так, стерти")
        assert any("стерто" in (call.text or "") for call in erased)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
    logs = (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in logs, "the run did not log at DEBUG, so the check proves little"
    assert "erased their personal data" in logs  # ids are logged: the run is in the file
    secret = TOKEN.split(":", 1)[1]
    forbidden = {
        "token": [TOKEN, secret],
        "phone": [PHONE, PHONE.removeprefix("+"), "0671112233", "67 111 22 33"],
        "name": [NAME],
        "text": [ADDRESS, "Кобилянського", DESCRIPTION, "Гнатюк", QUESTION, "Петрусенко"],
    }
    found = {
        what: [needle for needle in needles if needle.casefold() in logs.casefold()]
        for what, needles in forbidden.items()
    }
    assert {what: needles for what, needles in found.items() if needles} == {}
