"""``python -m bot web``: webhooks and their immediate replies only (issue 14).

Several web instances run behind one webhook URL; the elected instance (``python -m bot`` or
``python -m bot worker``) delivers the outbox and runs the scheduled jobs. A web instance
answers the updates it receives, sends nothing from the outbox, and never calls
``deleteWebhook`` (the webhook is the whole deployment's: polling would delete it).
The process runs against the fake Telegram Bot API in this process.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from services.outbox import enqueue
from storage.sqlite import open_storage
from tests.test_bot.test_crash_ack import (
    Telegram,
    bot_env,
    free_port,
    platform_for,
    post,
)

WAIT = 60.0
NOTIFIED = UserRef(ChannelName.TELEGRAM, "4242")


async def queue_notification(database: Path) -> None:
    """A status update due now: only a delivery worker would send it."""
    storage = await open_storage(f"sqlite:///{database}")
    try:
        async with storage.transaction() as session:
            await enqueue(
                session,
                key="req:1:status:1",
                chat=NOTIFIED,
                replies=[Reply("Вашу заявку 1520-000001 прийнято в роботу.")],
                kind="status",
                now=datetime.now(UTC),
            )
    finally:
        await storage.close()


def outbox(database: Path) -> dict[str, str]:
    with closing(sqlite3.connect(database, timeout=10)) as db:
        return dict(db.execute("SELECT idempotency_key, status FROM outbox").fetchall())


@pytest.mark.timeout(120)
async def test_web_mode_answers_updates_but_never_delivers_the_outbox_or_deletes_the_webhook(
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.sqlite3"
    await queue_notification(database)
    async with platform_for("telegram") as platform, aiohttp.ClientSession() as http:
        assert isinstance(platform, Telegram)
        server = platform.server
        port = free_port()
        log = tmp_path / "web.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "web",
                cwd=tmp_path, env=bot_env(platform, database, port),
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + WAIT
            [update] = platform.posts()[:1]
            url = f"http://127.0.0.1:{port}{platform.path}"
            # The webhook is set (never deleted) and the update answered at once.
            while await post(http, url, update) != 200:
                assert process.returncode is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                await asyncio.sleep(0.05)
            while not any(str(call.chat_id) == update.resident for call in server.sent_messages()):
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                await asyncio.sleep(0.05)
            # A delivery worker polls every half second: give one ample time to show up.
            await asyncio.sleep(3)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        text = log.read_text(errors="replace")
        assert code == 0, text
        methods = [call.method for call in server.calls]
        assert "setWebhook" in methods
        assert "deleteWebhook" not in methods
        assert "getUpdates" not in methods
        assert [c for c in server.sent_messages() if str(c.chat_id) == NOTIFIED.user_id] == []
        statuses = outbox(database)
        assert statuses["req:1:status:1"] == "pending"
        # The reply to the update went out and was recorded.
        assert set(statuses.values()) == {"pending", "sent"}
        assert "web mode: webhooks only" in text


@pytest.mark.timeout(60)
async def test_web_mode_without_a_webhook_url_exits_2_with_one_line(tmp_path: Path) -> None:
    async with platform_for("telegram") as platform:
        env = bot_env(platform, tmp_path / "bot.sqlite3", free_port())
        env["WEBHOOK_BASE_URL"] = ""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "web",
            cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), 30)
        server = platform.server  # type: ignore[attr-defined]
        assert process.returncode == 2, err.decode()
        assert "WEBHOOK_BASE_URL" in err.decode()
        assert "Traceback" not in err.decode()
        assert [call.method for call in server.calls] == []
