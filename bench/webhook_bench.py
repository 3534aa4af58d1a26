"""Webhook throughput and latency: the full bot against minimal aiogram echo bots.

All run as their own process behind the same webhook server (``bot.telegram.runtime``:
``SafeRequestHandler`` at ``/telegram`` with the secret token, answering 200 only after the
update and its replies are committed),
talking to a fake Bot API server in this process, where the load generator (``bench.loadgen``)
also runs: 127.0.0.1 only. The full bot is ``python -m bot`` in webhook mode (consultation
matching, SQLite persistence, the outbox worker). Two echo bots answer every message with its
text: ``echo`` is stock aiogram (its default session and dispatcher), the reference the target
is set against; ``echo-tuned`` is built as the full bot is (``create_bot``,
``create_dispatcher``, ``freeze_startup_objects``), so the full bot's ratio to it is the cost of
the bot's own work alone.

The three run at once and take turns over three rounds, each round a fixed-rate run (300
updates/s for 8 s) and a closed-loop run for the maximum throughput; then one run at 100/s.
Figures are medians over the rounds, a ratio the median of each round's ratio: this is a shared
2-core machine, and a slow spell would otherwise land on one bot only.

``python -m bench.webhook_bench`` runs it alone; ``python -m bench.webhook_bench echo --port N``
(or ``echo-tuned``) is an echo bot itself (started by the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import html
import itertools
import os
import resource
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import RESULTS, Row, cpu_seconds, print_rows, rss_mb, write_json
from bench.loadgen import LoadResult, Poster, ReplyWatcher, closed_loop, fixed_rate
from fakes.telegram_api import FakeTelegramServer, method_is

__all__ = ["BotProcess", "run"]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "987654:BENCH-webhook-token"
SECTION = "webhook"
RATE = 300.0
RATE_SECONDS = 8.0
LOW_RATE = 100.0
LOW_SECONDS = 5.0
MAX_CONCURRENCY = 64
MAX_SECONDS = 6.0
# Runs of each kind, taking turns; figures are medians over them.
ROUNDS = 3
# "echo": stock aiogram, the target's reference; "echo-tuned": built as the full bot is.
ECHO_KINDS = ("echo", "echo-tuned")
KINDS = (*ECHO_KINDS, "full")
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
        "OPS_PORT": "",  # no ops listener: 8081 may be taken by the bot being measured against
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
        argv = [sys.executable, "-m", "bench.webhook_bench", kind, "--port", str(port)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    mark = len(fake.calls)
    # The log is kept beside the results (git-ignored) for a look after the run.
    process = await BotProcess.spawn(argv, env, RESULTS / f"webhook_{kind}.log")
    await fake.wait_for(method_is("setWebhook"), start=mark, timeout=120)
    await wait_listening(port, process)
    return process, port


@dataclass
class Target:
    """One bot under test: its process, the fake it talks to, and the generator's handles."""

    kind: str
    process: BotProcess
    fake: FakeTelegramServer
    poster: Poster
    watcher: ReplyWatcher
    runs: dict[str, list[LoadResult]] = field(default_factory=dict)
    cpu_shares: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    generator_shares: list[float] = field(default_factory=list)

    def add(self, name: str, result: LoadResult) -> None:
        self.runs.setdefault(name, []).append(result)

    def median(self, name: str, figure: Callable[[LoadResult], float | None]) -> float | None:
        values = [v for v in (figure(run) for run in self.runs.get(name, [])) if v is not None]
        return statistics.median(values) if values else None

    def listed(self, name: str, figure: Callable[[LoadResult], float | None]) -> str:
        return " / ".join(f"{figure(run) or 0:.0f}" for run in self.runs.get(name, []))


async def _start(
    kind: str, stack: contextlib.AsyncExitStack, workdir: Path, webhook_path: str, secret: str
) -> Target:
    watcher = ReplyWatcher()
    fake = await stack.enter_async_context(FakeTelegramServer(token=TOKEN))
    fake.on_call = watcher.on_call
    folder = workdir / kind
    folder.mkdir()
    process, port = await start_target(kind, fake, folder)
    stack.push_async_callback(process.stop)
    poster = Poster(f"http://127.0.0.1:{port}{webhook_path}", secret)
    stack.push_async_callback(poster.close)
    return Target(kind, process, fake, poster, watcher)


async def _measure(workdir: Path) -> list[Target]:
    """Both bots run side by side; their runs alternate, so a slow spell of a shared machine
    falls on both rather than on whichever happened to be measured then."""
    from bot.telegram.runtime import TELEGRAM_WEBHOOK_PATH, webhook_secret  # noqa: PLC0415

    users = itertools.count(1_000_000, 100_000)
    async with contextlib.AsyncExitStack() as stack:
        targets = [
            await _start(kind, stack, workdir, TELEGRAM_WEBHOOK_PATH, webhook_secret(TOKEN))
            for kind in KINDS
        ]
        for target in targets:
            await closed_loop(
                target.poster,
                target.watcher,
                concurrency=8,
                duration=WARMUP_SECONDS,
                first_user=next(users),
            )
        for round_number in range(ROUNDS):
            # Rotate who goes first, so no bot always follows another's backlog.
            shift = round_number % len(targets)
            order = targets[shift:] + targets[:shift]
            for target in order:
                await _rate_run(target, "rate", RATE, RATE_SECONDS, first_user=next(users))
            for target in order:
                await _max_run(target, first_user=next(users))
        for target in targets:
            await _rate_run(target, "low", LOW_RATE, LOW_SECONDS, first_user=next(users))
    return targets


async def _rate_run(
    target: Target, name: str, rate: float, seconds: float, *, first_user: int
) -> None:
    with quiet_collector():
        result = await fixed_rate(
            target.poster, target.watcher, rate=rate, duration=seconds, first_user=first_user
        )
    target.add(name, result)


async def _max_run(target: Target, *, first_user: int) -> None:
    own_before = _own_cpu()
    cpu_before, wall_before = cpu_seconds(target.process.pid), time.monotonic()
    with quiet_collector():
        most = await closed_loop(
            target.poster,
            target.watcher,
            concurrency=MAX_CONCURRENCY,
            duration=MAX_SECONDS,
            first_user=first_user,
        )
    cpu_after, wall = cpu_seconds(target.process.pid), time.monotonic() - wall_before
    target.add("max", most)
    target.rss_mb = rss_mb(target.process.pid)
    target.generator_shares.append((_own_cpu() - own_before) / wall)
    if cpu_before is not None and cpu_after is not None:
        target.cpu_shares.append((cpu_after - cpu_before) / wall)


def _summary(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "runs": {name: [run.summary() for run in runs] for name, runs in target.runs.items()},
        "bot_cpu_share_at_max": [round(share, 2) for share in target.cpu_shares],
        "generator_cpu_share_at_max": [round(share, 2) for share in target.generator_shares],
        "bot_rss_mb_after_max": target.rss_mb,
        "messages_sent": sum(
            1 for call in target.fake.calls if call.method == "sendMessage" and call.ok
        ),
        "failed_calls": [call.summary() for call in target.fake.calls if not call.ok][:5],
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


def _throughput(run: LoadResult) -> float:
    return run.throughput


def _p50(run: LoadResult) -> float | None:
    return run.ms(0.5)


def _p99(run: LoadResult) -> float | None:
    return run.ms(0.99)


def _rows(targets: dict[str, Target]) -> list[Row]:
    rows: list[Row] = []
    for target in targets.values():
        name = target.kind
        cpu = statistics.median(target.cpu_shares) if target.cpu_shares else 0.0
        generator = statistics.median(target.generator_shares) if target.generator_shares else 0.0
        rows.append(
            Row(SECTION, f"{name}: max throughput ({MAX_CONCURRENCY} concurrent)",
                _rounded(target.median("max", _throughput)), "upd/s",
                note=f"median of {target.listed('max', _throughput)}; p99 "
                f"{target.median('max', _p99) or 0:.0f} ms; CPU: bot {cpu:.0%}, "
                f"generator+fake {generator:.0%}")
        )  # fmt: skip
        lost = sum(run.offered - run.answered for run in target.runs["rate"])
        rows.append(
            Row(SECTION, f"{name}: answered at {RATE:g}/s", _rounded(target.median("rate",
                _throughput)), "upd/s", note=f"{lost} lost" if lost else "none lost")
        )  # fmt: skip
        rows.append(Row(SECTION, f"{name}: p50 at {RATE:g}/s", target.median("rate", _p50), "ms"))
        rows.append(
            Row.checked(SECTION, f"{name}: p99 at {RATE:g}/s", target.median("rate", _p99), "ms",
                        below=P99_TARGET_MS if name == "full" else None,
                        note=f"median of {target.listed('rate', _p99)}")
        )  # fmt: skip
        low = target.runs["low"][0]
        rows.append(
            Row(SECTION, f"{name}: p50 / p99 at {LOW_RATE:g}/s",
                f"{low.ms(0.5) or 0:.1f} / {low.ms(0.99) or 0:.1f}", "ms",
                note=f"{low.answered}/{low.offered} answered")
        )  # fmt: skip
    full = targets["full"]
    for kind, checked in (("echo", True), ("echo-tuned", False)):
        rows.append(_ratio_row(targets[kind], full, checked=checked))
    return rows


def _ratio_row(echo: Target, full: Target, *, checked: bool) -> Row:
    """Each round's ratio compares runs a minute apart at most: the median of those is steadier
    on a shared machine than a ratio of two separate medians."""
    ratios = [
        f.throughput / e.throughput
        for e, f in zip(echo.runs["max"], full.runs["max"], strict=True)
        if e.throughput
    ]
    value = round(statistics.median(ratios), 3) if ratios else None
    note = "median of rounds " + " / ".join(f"{r:.2f}" for r in ratios)
    metric = f"full / {echo.kind} max throughput"
    if checked:
        return Row.checked(SECTION, metric, value, "ratio", at_least=RATIO_TARGET, note=note)
    return Row(SECTION, metric, value, "ratio", note=note)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run(*, write: bool = True) -> dict[str, Any]:
    """Measure both bots, print the section's table, write ``bench/results/webhook.json``."""

    async def both() -> tuple[list[Row], dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="bench-webhook-") as folder:
            targets = {target.kind: target for target in await _measure(Path(folder))}
            return _rows(targets), {"runs": [_summary(t) for t in targets.values()]}

    rows, runs = asyncio.run(both())
    print_rows(rows, title="Webhook: full bot vs aiogram echo bots (separate processes)")
    result = {
        "setup": {
            "rate": RATE,
            "rate_seconds": RATE_SECONDS,
            "rounds": ROUNDS,
            "max_concurrency": MAX_CONCURRENCY,
            "max_seconds": MAX_SECONDS,
            "cpus": os.cpu_count(),
            "latency": "update due -> first sendMessage at the fake Bot API",
        },
        **runs,
        "rows": [row.as_dict() for row in rows],
    }
    if write:
        write_json("webhook", result)
    return result


# --------------------------------------------------------------------------------------------
# The echo bot (run as its own process by the benchmark)
# --------------------------------------------------------------------------------------------


async def echo_bot(port: int, *, tuned: bool) -> None:
    """One handler answering every message with its text, behind the bot's webhook server.

    ``tuned`` builds the Bot and Dispatcher as the full bot does (``create_bot``,
    ``create_dispatcher``, ``freeze_startup_objects``): what is left between the two is the cost
    of the bot's own work. Otherwise it is stock aiogram (its default session, FSM on): the
    minimal echo bot the target is set against.
    """
    from aiogram import Bot, Dispatcher, Router  # noqa: PLC0415 - only the echo needs aiogram
    from aiogram.client.default import DefaultBotProperties  # noqa: PLC0415
    from aiogram.client.session.aiohttp import AiohttpSession  # noqa: PLC0415
    from aiogram.client.telegram import TelegramAPIServer  # noqa: PLC0415
    from aiogram.enums import ParseMode  # noqa: PLC0415
    from aiogram.types import Message  # noqa: PLC0415
    from aiohttp import web  # noqa: PLC0415

    from bot.app import configure_logging, freeze_startup_objects  # noqa: PLC0415
    from bot.telegram.runtime import create_bot, create_dispatcher, setup_webhook  # noqa: PLC0415

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    token, api_url = os.environ["TELEGRAM_TOKEN"], os.environ["TELEGRAM_API_URL"]
    router = Router(name="echo")

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(html.escape(message.text or "…", quote=False))

    if tuned:
        bot = create_bot(token, api_url)
        dispatcher = create_dispatcher([router])
    else:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
        bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        dispatcher = Dispatcher()
        dispatcher.include_router(router)
    app = web.Application()
    await setup_webhook(app, bot, dispatcher, base_url=PUBLIC_URL, token=token)
    runner = web.AppRunner(app)  # as bot.app.run_messengers: default access log included
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    if tuned:
        freeze_startup_objects()
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
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", *ECHO_KINDS])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    if args.mode in ECHO_KINDS:
        asyncio.run(echo_bot(args.port, tuned=args.mode == "echo-tuned"))
    else:
        run()


if __name__ == "__main__":
    main()
