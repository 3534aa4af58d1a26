"""Graceful shutdown of ``python -m bot`` in webhook mode, as a service manager does it.

SIGTERM in the middle of a burst: the bot stops taking updates, finishes those it took, sends
their replies and exits 0 with the database closed cleanly. Every update that got a 200 is
answered (the platforms never deliver it again); what got no 200 is left for the platform to
post again. A second signal during the shutdown exits at once with 128 + its number.

The process, the fakes and the burst are those of the crash test (``test_crash_ack``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.test_bot.test_crash_ack import (
    CONCURRENCY,
    RESIDENTS,
    BotProcess,
    bot_env,
    burst,
    free_port,
    platform_for,
    snapshot,
)

STOP_AFTER = RESIDENTS // 3  # 200s received before the SIGTERM


def wal_pages(database: Path) -> int:
    """Frames left in the write-ahead log: 0 when the last connection closed cleanly."""
    wal = database.with_name(database.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["telegram", "viber"])
async def test_sigterm_mid_burst_answers_everything_acknowledged_and_exits_0(
    name: str, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    async with (
        platform_for(name) as platform,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as http,
    ):
        port = free_port()
        url = f"http://127.0.0.1:{port}{platform.path}"
        bot = BotProcess(platform, bot_env(platform, database, port), tmp_path)
        posts = platform.posts()
        try:
            await bot.start(port)
            assert bot.process is not None
            process = bot.process

            def terminate_at(count: int) -> None:
                if count == STOP_AFTER:
                    process.send_signal(signal.SIGTERM)

            statuses = await burst(http, url, posts, on_ok=terminate_at)
            code = await asyncio.wait_for(process.wait(), 60)
        finally:
            bot.kill()
            if bot.process is not None:
                await bot.process.wait()

        log = bot.log.read_text(errors="replace")
        assert code == 0, bot.output()
        assert "shutting down gracefully" in log
        assert log.splitlines()[-1].endswith("stopped"), bot.output()
        assert "Traceback" not in log, bot.output(80)

        acknowledged = {item.key for item in posts if statuses[item.key] == 200}
        refused = Counter(status for status in statuses.values() if status != 200)
        print(
            f"\n{name} graceful shutdown: {RESIDENTS} posted, SIGTERM at the {STOP_AFTER}th 200; "
            f"200s {len(acknowledged)}, not taken {dict(refused)}"
        )
        assert len(acknowledged) >= STOP_AFTER
        assert refused, "the SIGTERM came after the burst: nothing was left for a redelivery"

        # Everything acknowledged was processed and its reply sent, once; nothing is waiting.
        final = await asyncio.to_thread(snapshot, database, platform.channel)
        assert acknowledged <= set(final.processed)
        reply_status = {
            key.removeprefix("reply:"): status for key, (_, status) in final.replies.items()
        }
        assert {reply_status.get(key) for key in acknowledged} == {"sent"}
        assert set(reply_status.values()) <= {"sent"}
        sent = platform.replies()
        answered = Counter(resident for resident, _ in sent)
        by_key = {item.key: item.resident for item in posts}
        assert {by_key[key] for key in acknowledged} <= set(answered)
        assert all(times == 1 for times in answered.values()), "a reply sent twice"

        # The database was closed cleanly: the log checkpointed, the file opens without repair.
        assert wal_pages(database) == 0
        with contextlib.closing(sqlite3.connect(database)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.timeout(60)
async def test_a_second_signal_during_the_shutdown_exits_at_once(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    async with platform_for("telegram") as platform:
        port = free_port()
        bot = BotProcess(platform, bot_env(platform, database, port), tmp_path)
        try:
            await bot.start(port)
            assert bot.process is not None
            # Two different signals: two SIGTERMs sent together may arrive as one.
            bot.process.send_signal(signal.SIGTERM)
            bot.process.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(bot.process.wait(), 30)
        finally:
            bot.kill()
            if bot.process is not None:
                await bot.process.wait()
    log = bot.log.read_text(errors="replace")
    # The kernel hands pending signals over lowest number first: either may be the second.
    assert code in {128 + signal.SIGINT, 128 + signal.SIGTERM}, bot.output()
    assert "second signal: exiting now" in log
    assert "stopped" not in log.splitlines()[-1]
