"""``python -m bot worker`` delivers what the bot owes people in every configured channel.

A separate worker process (no webhook, no polling) sends the outbox: Telegram through its own
paced Bot session, Viber through its own REST client (it once had no Viber channel, and Viber
messages stayed pending for ever). The process runs against the fake Viber server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from fakes.viber_api import DEFAULT_TOKEN, FakeViberServer
from services.outbox import enqueue
from storage.sqlite import open_storage

ROOT = Path(__file__).resolve().parents[2]
RESIDENT = UserRef(ChannelName.VIBER, "worker+mode/ID==")


def worker_env(tmp_path: Path, viber_url: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        TELEGRAM_TOKEN="",
        VIBER_TOKEN=DEFAULT_TOKEN,
        VIBER_API_URL=viber_url,
        OPS_PORT="",
        QUIET_HOURS="",
        LOG_LEVEL="INFO",
    )
    return env


@pytest.mark.timeout(120)
async def test_the_worker_process_sends_a_queued_viber_message(tmp_path: Path) -> None:

    storage = await open_storage(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    try:
        now = datetime.now(UTC)
        async with storage.transaction() as session:
            # The resident wrote just now: inside Viber's free window.
            person = await session.residents.touch(RESIDENT, now=now)
            await enqueue(
                session,
                key="req:1:status:1",
                chat=RESIDENT,
                replies=[Reply("Вашу заявку 1520-000001 прийнято в роботу.")],
                kind="status",
                now=now,
                resident_id=person.id,
            )
    finally:
        await storage.close()

    async with FakeViberServer() as viber:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "worker",
            cwd=tmp_path, env=worker_env(tmp_path, viber.base_url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not viber.sent:
                assert process.returncode is None, "the worker exited"
                assert time.monotonic() < deadline, "nothing reached the fake Viber server"
                await asyncio.sleep(0.05)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    [sent] = viber.sent
    assert sent["receiver"] == RESIDENT.user_id
    assert "1520-000001" in sent["text"]
