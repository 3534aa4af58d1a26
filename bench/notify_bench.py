"""Benchmark of notification delivery: a few thousand messages to many chats through the real
outbox worker, the paced Telegram channel and the fake Bot API enforcing the flood limits.

Run ``python -m bench.notify_bench`` (``--messages``, ``--chats``, ``--rate``). The total limit is
raised to 300 messages a second (Telegram's is 30) so the run takes seconds, not minutes; one a
second per chat and twenty a minute per group stay as Telegram has them. Prints the achieved rate
as a fraction of the configured limit, limit violations, lost and duplicated messages beside their
targets, and writes ``bench/results/notify.json``.

The achieved rate is the sustained one: messages that arrived in the whole seconds from the first
arrival while the queue still had work (the last, partly empty second is left out), divided by
those seconds; a limiter that sends exactly the limit every second scores 1.0. The busiest
second is the most messages the fake saw in any sliding one-second window (at most the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.telegram.channel import TelegramChannel
from bot.telegram.pacing import create_paced_bot
from domain.clock import SystemClock
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from fakes.telegram_api import FakeTelegramServer, RateLimits
from notifications.limits import ChatRateLimiter
from notifications.limits import RateLimits as DeliveryLimits
from notifications.worker import OutboxWorker
from services.outbox import enqueue
from storage.sqlite import SqliteStorage

RESULTS = Path(__file__).resolve().parent / "results" / "notify.json"
TOKEN = "123456:BENCH"
MARK = re.compile(r"\[n(\d+)\]")
GROUPS = (-1001000000001, -1001000000002, -1001000000003)
PER_GROUP = 5

# (figure, label, target, higher is better)
TARGETS: tuple[tuple[str, str, float, bool], ...] = (
    ("fraction_of_limit", "achieved rate / limit", 0.95, True),
    ("violations", "limit violations", 0, False),
    ("lost", "lost messages", 0, False),
    ("duplicates", "duplicated messages", 0, False),
)


async def _queue(storage: SqliteStorage, messages: int, chats: int) -> int:
    """``messages`` spread round-robin over ``chats`` private chats, plus a few per group."""
    clock = SystemClock()
    count = 0
    async with storage.transaction() as session:
        for index in range(messages):
            chat = UserRef(ChannelName.TELEGRAM, str(100_000 + index % chats))
            count += 1
            await enqueue(
                session,
                key=f"n{count}",
                chat=chat,
                replies=[Reply(f"Статус заявки змінено [n{count}]")],
                kind="status",
                now=clock.now(),
            )
        for group in GROUPS:
            for _ in range(PER_GROUP):
                count += 1
                await enqueue(
                    session,
                    key=f"n{count}",
                    chat=UserRef(ChannelName.TELEGRAM, str(group)),
                    replies=[Reply(f"Прострочено [n{count}]")],
                    kind="deadline_escalation",
                    now=clock.now(),
                    urgent=True,
                )
    return count


async def _measure(messages: int, chats: int, rate: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        storage = await SqliteStorage.open(Path(folder) / "bench.sqlite3")
        try:
            total = await _queue(storage, messages, chats)
            server_limits = RateLimits(per_second_total=rate, enforce=True)
            async with FakeTelegramServer(token=TOKEN, limits=server_limits) as server:
                limiter = ChatRateLimiter(DeliveryLimits(total_per_second=rate))
                bot = create_paced_bot(TOKEN, server.base_url, limiter)
                worker = OutboxWorker(
                    storage,
                    {ChannelName.TELEGRAM: TelegramChannel(bot, wait_retry_after=False)},
                    SystemClock(),
                    limiter=limiter,
                )
                started = time.perf_counter()
                task = asyncio.create_task(worker.run())
                try:
                    async with asyncio.timeout(300):
                        while len(server.sent_messages()) < total:  # noqa: ASYNC110 - polling the fake
                            await asyncio.sleep(0.05)
                        # Anything still coming (a duplicate) would show up now.
                        await asyncio.sleep(0.5)
                finally:
                    worker.stop()
                    await task
                    await bot.session.close()
                wall = time.perf_counter() - started
                sent = server.sent_messages()
                marks = Counter(
                    int(found.group(1)) for call in sent if (found := MARK.search(call.text or ""))
                )
                times = sorted(call.time for call in sent)
                window = max(
                    (
                        sum(1 for t in times[i : i + rate + 1] if t - start < 1.0)
                        for i, start in enumerate(times)
                    ),
                    default=0,
                )
                whole = max(int(times[-1] - times[0]), 1) if times else 1
                achieved = sum(1 for t in times if t - times[0] < whole) / whole
                async with storage.transaction() as session:
                    counts = await session.outbox.counts()
                return {
                    "messages": total,
                    "private_chats": chats,
                    "group_chats": len(GROUPS),
                    "limit_total_per_second": rate,
                    "limit_per_chat_per_second": 1,
                    "limit_per_group_per_minute": 20,
                    "concurrency": worker.concurrency,
                    "achieved_per_second": round(achieved, 1),
                    "fraction_of_limit": round(achieved / rate, 3),
                    "busiest_second": window,
                    "violations": len(server.violations),
                    "lost": total - len(marks),
                    "duplicates": sum(n - 1 for n in marks.values()),
                    "outbox": {status.value: n for status, n in counts.items()},
                    "seconds": round(wall, 2),
                }
        finally:
            await storage.close()


def _print_table(result: dict[str, object]) -> None:
    print(f"{'metric':<28}{'target':>10}{'value':>14}")
    print("-" * 52)
    for field, label, target, higher in TARGETS:
        value = float(result[field])  # type: ignore[arg-type]
        ok = value >= target if higher else value <= target
        sign = ">=" if higher else "="
        print(f"{label:<28}{sign + format(target, 'g'):>10}{value:>11g} {'ok' if ok else '!!'}")
    print(f"{'achieved, messages/s':<28}{'':>10}{result['achieved_per_second']!s:>11}")
    print(f"{'busiest second':<28}{'':>10}{result['busiest_second']!s:>11}")
    print(
        f"\n{result['messages']} messages to {result['private_chats']} private chats and "
        f"{result['group_chats']} groups in {result['seconds']} s; limits: "
        f"{result['limit_total_per_second']}/s total (raised from Telegram's 30 to keep the run "
        "short), 1/s per chat, 20/min per group"
    )


def run(
    messages: int = 3000, chats: int = 1000, rate: int = 300, *, write: bool = True
) -> dict[str, object]:
    """Measure, print the table, write ``bench/results/notify.json``; return the figures."""
    result = asyncio.run(_measure(messages, chats, rate))
    result["targets"] = {field: target for field, _label, target, _higher in TARGETS}
    result["passed"] = all(
        (float(result[f]) >= t) if higher else (float(result[f]) <= t)  # type: ignore[arg-type]
        for f, _label, t, higher in TARGETS
    )
    _print_table(result)
    if write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=300, help="total messages a second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run(args.messages, args.chats, args.rate)


if __name__ == "__main__":
    main()
