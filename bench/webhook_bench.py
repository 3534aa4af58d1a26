"""Webhook throughput and latency: the full bot against a minimal aiogram echo bot.

Both run as their own process behind the same webhook server config (``bot.telegram.runtime``:
aiogram's ``SimpleRequestHandler`` at ``/telegram`` with the secret token, answering before it
handles), talking to the fake Bot API server in this process, where the load generator
(``bench.loadgen``) also runs: 127.0.0.1 only. The full bot is ``python -m bot`` in webhook
mode (consultation matching, SQLite persistence, the outbox worker); the echo bot is one
handler that answers every message with its text. Each gets a warm-up, a fixed-rate run
(300 updates/s for 10 s) and a closed-loop run for the maximum throughput.

``python -m bench.webhook_bench`` runs it alone; ``python -m bench.webhook_bench echo --port N
--api URL`` is the echo bot itself (started by the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import html
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import RESULTS, Row, cpu_seconds, print_rows, rss_mb, write_json
from bench.loadgen import Poster, ReplyWatcher, closed_loop, fixed_rate
from tests.fakes.telegram_api import FakeTelegramServer, method_is

__all__ = ["BotProcess", "run"]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "987654:BENCH-webhook-token"
SECTION = "webhook"
RATE = 300.0
RATE_SECONDS = 10.0
LOW_RATE = 100.0
LOW_SECONDS = 5.0
MAX_CONCURRENCY = 64
MAX_SECONDS = 8.0
WARMUP_SECONDS = 2.0
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.5
PUBLIC_URL = "https://bench.example.test"  # only registered with the fake; never reached


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(api_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of ``python -m bot`` against the fake: nothing from a developer's .env
    matters (every setting the bot reads that could is given here)."""
    return {
        **os.environ,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "VIBER_TOKEN": "",
        "STAFF_CHAT_ID": "",
        "OPERATOR_IDS": "",
        "WEBHOOK_BASE_URL": "",
        "QUIET_HOURS": "",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class BotProcess:
    """A child process with its output in a file (a pipe would fill up and block it)."""

    process: asyncio.subprocess.Process
    log: Path
    started: float

    @classmethod
    async def spawn(cls, argv: list[str], env: dict[str, str], log: Path) -> BotProcess:
        with log.open("wb") as output:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
        return cls(process, log, started)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self) -> int | None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


async def wait_listening(port: int, process: BotProcess, *, within: float = 120.0) -> None:
    """Until something accepts connections on 127.0.0.1:port (the webhook server is up)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.process.returncode is not None:
            raise RuntimeError(f"the process exited early:\n{process.tail()}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {within:g} s:\n{process.tail()}")


async def start_target(
    kind: str, fake: FakeTelegramServer, workdir: Path
) -> tuple[BotProcess, int]:
    port = free_port()
    env = bot_env(
        fake.base_url,
        workdir,
        WEBHOOK_BASE_URL=PUBLIC_URL,
        WEBHOOK_PORT=str(port),
        WEBHOOK_HOST="127.0.0.1",
    )
    if kind == "full":
        argv = [sys.executable, "-m", "bot"]
    else:
        argv = [sys.executable, "-m", "bench.webhook_bench", "echo", "--port", str(port)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    mark = len(fake.calls)
    # The log is kept beside the results (git-ignored) for a look after the run.
    process = await BotProcess.spawn(argv, env, RESULTS / f"webhook_{kind}.log")
    await fake.wait_for(method_is("setWebhook"), start=mark, timeout=120)
    await wait_listening(port, process)
    return process, port


async def _measure(kind: str, workdir: Path) -> dict[str, Any]:
    from bot.telegram.runtime import TELEGRAM_WEBHOOK_PATH, webhook_secret  # noqa: PLC0415

    watcher = ReplyWatcher()
    async with FakeTelegramServer(token=TOKEN) as fake:
        fake.on_call = watcher.on_call
        process, port = await start_target(kind, fake, workdir)
        poster = Poster(f"http://127.0.0.1:{port}{TELEGRAM_WEBHOOK_PATH}", webhook_secret(TOKEN))
        try:
            await closed_loop(
                poster, watcher, concurrency=8, duration=WARMUP_SECONDS, first_user=1_000_000
            )
            with quiet_collector():
                rate = await fixed_rate(
                    poster, watcher, rate=RATE, duration=RATE_SECONDS, first_user=2_000_000
                )
            with quiet_collector():
                low = await fixed_rate(
                    poster, watcher, rate=LOW_RATE, duration=LOW_SECONDS, first_user=3_000_000
                )
            own_before = _own_cpu()
            cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
            with quiet_collector():
                most = await closed_loop(
                    poster,
                    watcher,
                    concurrency=MAX_CONCURRENCY,
                    duration=MAX_SECONDS,
                    first_user=4_000_000,
                )
            cpu_after, wall_after = cpu_seconds(process.pid), time.monotonic()
            generator_share = (_own_cpu() - own_before) / (wall_after - wall_before)
            memory = rss_mb(process.pid)
            replies = sum(1 for call in fake.calls if call.method == "sendMessage" and call.ok)
            failed = [call.summary() for call in fake.calls if not call.ok][:5]
        finally:
            await poster.close()
            await process.stop()
    cpu_share = None
    if cpu_before is not None and cpu_after is not None:
        cpu_share = (cpu_after - cpu_before) / (wall_after - wall_before)
    return {
        "kind": kind,
        "fixed_rate": rate.summary(),
        "max": most.summary(),
        "bot_cpu_share_at_max": None if cpu_share is None else round(cpu_share, 2),
        "generator_cpu_share_at_max": round(generator_share, 2),
        "bot_rss_mb": None if memory is None else round(memory, 1),
        "messages_sent": replies,
        "failed_calls": failed,
        "low_rate": low.summary(),
        "_results": (rate, most, low),
    }


@contextlib.contextmanager
def quiet_collector() -> Iterator[None]:
    """No garbage-collector pauses in the generator while it times (the fake keeps every call
    it served: a full collection over them would stall the clock, not the bot)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rows(echo: dict[str, Any], full: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for run in (echo, full):
        name = run["kind"]
        rate, most, low = run["_results"]
        lost = rate.offered - rate.answered
        rows.append(
            Row(SECTION, f"{name}: max throughput ({MAX_CONCURRENCY} concurrent)",
                round(most.throughput, 1), "upd/s",
                note=f"p50 {most.ms(0.5) or 0:.0f} ms, p99 {most.ms(0.99) or 0:.0f} ms; CPU: bot "
                f"{run['bot_cpu_share_at_max'] or 0:.0%}, generator+fake "
                f"{run['generator_cpu_share_at_max']:.0%}")
        )  # fmt: skip
        answered = f"{rate.answered}/{rate.offered} answered" + (f", {lost} lost" if lost else "")
        rows.append(
            Row(SECTION, f"{name}: answered at {RATE:g}/s", round(rate.throughput, 1), "upd/s",
                note=answered)
        )  # fmt: skip
        rows.append(Row(SECTION, f"{name}: p50 at {RATE:g}/s", rate.ms(0.5), "ms"))
        target = P99_TARGET_MS if name == "full" else None
        rows.append(Row.checked(SECTION, f"{name}: p99 at {RATE:g}/s", rate.ms(0.99), "ms",
                                below=target))  # fmt: skip
        rows.append(
            Row(SECTION, f"{name}: p50 / p99 at {LOW_RATE:g}/s",
                f"{low.ms(0.5) or 0:.1f} / {low.ms(0.99) or 0:.1f}", "ms",
                note=f"{low.answered}/{low.offered} answered")
        )  # fmt: skip
    full_most, echo_most = full["_results"][1], echo["_results"][1]
    ratio = full_most.throughput / echo_most.throughput if echo_most.throughput else None
    rows.append(
        Row.checked(SECTION, "full / echo max throughput", None if ratio is None else
                    round(ratio, 3), "ratio", at_least=RATIO_TARGET)
    )  # fmt: skip
    return rows


def run(*, write: bool = True) -> dict[str, Any]:
    """Measure both bots, print the section's table, write ``bench/results/webhook.json``."""

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="bench-webhook-") as folder:
            echo = await _measure("echo", Path(folder))
            full = await _measure("full", Path(folder))
        return echo, full

    echo, full = asyncio.run(both())
    rows = _rows(echo, full)
    print_rows(rows, title="Webhook: full bot vs aiogram echo bot (separate processes)")
    result = {
        "setup": {
            "rate": RATE,
            "rate_seconds": RATE_SECONDS,
            "max_concurrency": MAX_CONCURRENCY,
            "max_seconds": MAX_SECONDS,
            "cpus": os.cpu_count(),
            "latency": "update due -> first sendMessage at the fake Bot API",
        },
        "runs": [{k: v for k, v in run.items() if not k.startswith("_")} for run in (echo, full)],
        "rows": [row.as_dict() for row in rows],
    }
    if write:
        write_json("webhook", result)
    return result


# --------------------------------------------------------------------------------------------
# The echo bot (run as its own process by the benchmark)
# --------------------------------------------------------------------------------------------


async def echo_bot(port: int) -> None:
    """One handler answering every message with its text, behind the bot's webhook setup."""
    from aiogram import Router  # noqa: PLC0415 - only the echo process needs aiogram
    from aiogram.types import Message  # noqa: PLC0415
    from aiohttp import web  # noqa: PLC0415

    from bot.app import configure_logging  # noqa: PLC0415
    from bot.telegram.runtime import create_bot, create_dispatcher, setup_webhook  # noqa: PLC0415

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    token = os.environ["TELEGRAM_TOKEN"]
    bot = create_bot(token, os.environ["TELEGRAM_API_URL"])
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(html.escape(message.text or "…", quote=False))

    dispatcher = create_dispatcher([router])
    app = web.Application()
    await setup_webhook(app, bot, dispatcher, base_url=PUBLIC_URL, token=token)
    runner = web.AppRunner(app)  # as bot.app.run_messengers: default access log included
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await bot.session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "echo"])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    if args.mode == "echo":
        asyncio.run(echo_bot(args.port))
    else:
        run()


if __name__ == "__main__":
    main()
