"""Start-up time and resident memory of ``python -m bot`` (Telegram by long polling, against the
fake Bot API server in this process).

Start-up is the time from launching the process to its first ``getUpdates`` reaching the fake
(an update is queued beforehand, so that long poll returns at once and is recorded with its
arrival time). Memory is ``VmRSS`` of /proc/<pid>/status right after start-up and after the
bot has answered 1,000 updates from 1,000 residents. The first start creates the database
(migrations); the others find it ready, as a restart does: the median of the runs is reported.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import Row, median, print_rows, rss_mb, write_json
from bench.loadgen import QUESTIONS, ReplyWatcher, text_update
from bench.webhook_bench import TOKEN, BotProcess, bot_env
from fakes.telegram_api import FakeTelegramServer

__all__ = ["run"]

SECTION = "startup"
STARTS = 3
UPDATES = 1_000
START_TARGET_S = 10.0
RSS_TARGET_MB = 300.0


async def _start(
    fake: FakeTelegramServer, folder: Path, watcher: ReplyWatcher, user: int
) -> tuple[BotProcess, float]:
    """Launch the bot; seconds until its first getUpdates arrived."""
    mark = len(fake.calls)
    fake.push_update(text_update(user, "/start", update_id=None), validate=False)
    process = await BotProcess.spawn(
        [sys.executable, "-m", "bot"], bot_env(fake.base_url, folder), folder / "bot.log"
    )
    first = await fake.wait_for(lambda call: call.method == "getUpdates", start=mark, timeout=120)
    await asyncio.wait_for(watcher.expect(user), 60)
    return process, first[0].time - process.started


async def _measure(folder: Path) -> dict[str, Any]:
    watcher = ReplyWatcher()
    starts: list[float] = []
    memory: dict[str, float | None] = {}
    async with FakeTelegramServer(token=TOKEN) as fake:
        fake.on_call = watcher.on_call
        for attempt in range(STARTS):
            process, seconds = await _start(fake, folder, watcher, 5_000_000 + attempt)
            starts.append(seconds)
            if attempt < STARTS - 1:
                await process.stop()
                continue
            memory["after_start"] = rss_mb(process.pid)
            try:
                first_user = 6_000_000
                for index in range(UPDATES):
                    update = text_update(first_user + index, QUESTIONS[index % len(QUESTIONS)])
                    fake.push_update(update, validate=False)
                started = time.monotonic()
                for index in range(UPDATES):
                    await asyncio.wait_for(watcher.expect(first_user + index), 120)
                handled_in = time.monotonic() - started
                await asyncio.sleep(0.5)  # the replies' bookkeeping settles
                memory["after_updates"] = rss_mb(process.pid)
            finally:
                await process.stop()
    return {
        "starts_s": [round(value, 2) for value in starts],
        "first_start_s": round(starts[0], 2),
        "median_start_s": round(median(starts) or 0, 2),
        "rss_after_start_mb": _round(memory.get("after_start")),
        "rss_after_updates_mb": _round(memory.get("after_updates")),
        "updates": UPDATES,
        "updates_seconds": round(handled_in, 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run(*, write: bool = True) -> dict[str, Any]:
    """Measure, print the section's table, write ``bench/results/startup.json``."""

    async def measure() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
            return await _measure(Path(folder))

    figures = asyncio.run(measure())
    rows = [
        Row.checked(SECTION, "start to first getUpdates (median)", figures["median_start_s"], "s",
                    below=START_TARGET_S,
                    note=f"runs {figures['starts_s']}; the first creates the database"),
        Row.checked(SECTION, "resident memory after start", figures["rss_after_start_mb"], "MiB",
                    below=RSS_TARGET_MB),
        Row.checked(SECTION, f"resident memory after {UPDATES:,} updates",
                    figures["rss_after_updates_mb"], "MiB", below=RSS_TARGET_MB,
                    note=f"{UPDATES:,} residents answered by polling in "
                    f"{figures['updates_seconds']} s"),
    ]  # fmt: skip
    print_rows(rows, title="Start-up and memory of python -m bot (long polling)")
    result = {**figures, "rows": [row.as_dict() for row in rows]}
    if write:
        write_json("startup", result)
    return result


if __name__ == "__main__":
    run()
