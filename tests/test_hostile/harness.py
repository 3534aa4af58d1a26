"""The whole bot (``bot.app.run_messengers``: Telegram webhook + Viber webhook on one server)
against the fake Bot API and the fake Viber API, on an event loop of its own.

Hypothesis runs a test's examples synchronously, so the harness owns an ``asyncio.Runner`` and
the test calls ``live.run(coroutine)``; the bot stays up across examples, which is the point:
what one hostile example does must not break the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from bot.app import run_messengers
from bot.settings import Settings
from bot.telegram.runtime import TELEGRAM_WEBHOOK_PATH, webhook_secret
from fakes.telegram_api import FakeTelegramServer
from fakes.viber_api import DEFAULT_TOKEN as VIBER_TOKEN
from fakes.viber_api import FakeViberServer

T = TypeVar("T")

TOKEN = "123456:HOSTILE-test-token"
STAFF_CHAT = -1_001_234_567_890
SECRET = webhook_secret(TOKEN)
# Loggers of our own code: an ERROR there means a hostile input reached a bug.
OWN_LOGGERS = ("bot", "handlers", "services", "storage", "notifications", "faq", "domain")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ErrorLog(logging.Handler):
    """Collects ERROR records of our own packages (with the exception's type)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OWN_LOGGERS:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
            self.records.append(f"{record.name}: {record.getMessage()} {kind}".strip())


@dataclass
class LiveBot:
    """The running bot, the fakes it talks to, and a client to post to its webhooks."""

    runner: asyncio.Runner
    telegram: FakeTelegramServer
    viber: FakeViberServer
    port: int
    database: Path
    http: aiohttp.ClientSession
    stop: asyncio.Event
    task: asyncio.Task[None]
    errors: ErrorLog = field(default_factory=ErrorLog)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    @property
    def telegram_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{TELEGRAM_WEBHOOK_PATH}"

    @property
    def viber_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/viber"

    async def post(
        self, url: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        async with self.http.post(url, data=body, headers=headers or {}) as response:
            return response.status, await response.text()

    async def post_update(self, body: bytes, *, secret: str | None = SECRET) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        status, _ = await self.post(self.telegram_url, body, headers)
        return status


async def _start(runner: asyncio.Runner, tmp_path: Path) -> LiveBot:
    telegram = FakeTelegramServer(token=TOKEN)
    await telegram.start()
    viber = FakeViberServer()
    await viber.start()
    port = free_port()
    database = tmp_path / "hostile.sqlite3"
    settings = Settings(
        _env_file=None,
        telegram_token=TOKEN,
        telegram_api_url=telegram.base_url,
        staff_chat_id=STAFF_CHAT,
        viber_token=VIBER_TOKEN,
        viber_api_url=viber.base_url,
        # Registered with the fakes only (Viber insists on https); tests post to 127.0.0.1.
        webhook_base_url="https://bot.example.test",
        webhook_port=port,
        webhook_host="127.0.0.1",
        database_url=f"sqlite:///{database}",
        quiet_hours="",
        ops_port=None,  # no ops listener: 8081 may be taken by another run
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_messengers(settings, stop=stop))
    # Viber's webhook is set once the server listens (Telegram's is set just before).
    for _ in range(1500):
        if viber.webhook_url or task.done():
            break
        await asyncio.sleep(0.02)
    if not viber.webhook_url or telegram.webhook is None:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=30)
        await viber.close()
        await telegram.stop()
        raise AssertionError("the bot did not start its webhook server")
    return LiveBot(
        runner=runner,
        telegram=telegram,
        viber=viber,
        port=port,
        database=database,
        http=aiohttp.ClientSession(),
        stop=stop,
        task=task,
    )


async def _stop(live: LiveBot) -> None:
    live.stop.set()
    try:
        await asyncio.wait_for(live.task, timeout=30)
    finally:
        await live.http.close()
        await live.viber.close()
        await live.telegram.stop()


@contextlib.contextmanager
def live_bot(tmp_path: Path) -> Iterator[LiveBot]:
    """Start the bot and its fakes; stop everything after the block."""
    with asyncio.Runner() as runner:
        live = runner.run(_start(runner, tmp_path))
        root = logging.getLogger()
        root.addHandler(live.errors)
        try:
            yield live
        finally:
            root.removeHandler(live.errors)
            runner.run(_stop(live))
