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

On PostgreSQL (issue 14) the full bot runs three more ways, each on a fresh schema of its own
(``bench.postgres``, dropped afterwards): ``full-pg``, one instance reached directly;
``full-pg-proxy``, the same behind the round-robin proxy (``fakes.round_robin``, its own
process); ``full-pg-x2``, two instances on one schema behind that proxy. Two over one behind
the same proxy is the instances' ratio; the proxy's own cost is the difference between
``full-pg`` and ``full-pg-proxy``. Each instance answers its own webhooks; one of them, the
elected leader, also runs the delivery worker and the scheduler. A reply is timed at its first
``sendMessage`` (webhook answers are what is measured), and replies sent twice are counted.

They all run at once and take turns over three rounds, each round a fixed-rate run (300
updates/s for 8 s) and a closed-loop run for the maximum throughput; then one run at 100/s.
Figures are medians over the rounds, a ratio the median of each round's ratio: this is a shared
2-core machine, and a slow spell would otherwise land on one bot only.

``python -m bench.webhook_bench`` runs it alone (``--backend sqlite`` the SQLite bots only,
``--backend postgres`` the PostgreSQL bots beside the SQLite full bot);
``python -m bench.webhook_bench echo --port N`` (or ``echo-tuned``) is an echo bot itself
(started by the benchmark).
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
# The full bot on PostgreSQL: one instance, one behind the proxy, two behind the proxy.
PG_KINDS = ("full-pg", "full-pg-proxy", "full-pg-x2")
INSTANCES = {"full-pg-x2": 2}
PROXIED = ("full-pg-proxy", "full-pg-x2")
KINDS_OF = {
    "sqlite": KINDS,
    "postgres": ("full", *PG_KINDS),
    "both": (*KINDS, *PG_KINDS),
}
TWO_INSTANCES_NOTE = "each answers its webhooks; the elected leader also delivers the outbox"
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
        "API_PORT": "",  # nor the Open311 API: several bots run at once
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
    kind: str,
    fake: FakeTelegramServer,
    workdir: Path,
    *,
    database_url: str | None = None,
    log_name: str | None = None,
) -> tuple[BotProcess, int]:
    port = free_port()
    extra = {"DATABASE_URL": database_url} if database_url else {}
    env = bot_env(
        fake.base_url,
        workdir,
        WEBHOOK_BASE_URL=PUBLIC_URL,
        WEBHOOK_PORT=str(port),
        WEBHOOK_HOST="127.0.0.1",
        **extra,
    )
    if kind.startswith("full"):
        argv = [sys.executable, "-m", "bot"]
    else:
        argv = [sys.executable, "-m", "bench.webhook_bench", kind, "--port", str(port)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    mark = len(fake.calls)
    # The log is kept beside the results (git-ignored) for a look after the run.
    process = await BotProcess.spawn(argv, env, RESULTS / f"webhook_{log_name or kind}.log")
    await fake.wait_for(method_is("setWebhook"), start=mark, timeout=120)
    await wait_listening(port, process)
    return process, port


async def start_proxy(kind: str, ports: list[int]) -> tuple[BotProcess, int]:
    """``fakes.round_robin`` in a process of its own, in front of the bots on ``ports``."""
    port = free_port()
    backends = [f"http://127.0.0.1:{backend}" for backend in ports]
    argv = [sys.executable, "-m", "fakes.round_robin", "--port", str(port), *backends]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await BotProcess.spawn(argv, env, RESULTS / f"webhook_{kind}_proxy.log")
    await wait_listening(port, process)
    return process, port


@dataclass
class Target:
    """One bot under test: its process, the fake it talks to, and the generator's handles."""

    kind: str
    processes: list[BotProcess]
    fake: FakeTelegramServer
    poster: Poster
    watcher: ReplyWatcher
    proxy: BotProcess | None = None
    runs: dict[str, list[LoadResult]] = field(default_factory=dict)
    cpu_shares: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    generator_shares: list[float] = field(default_factory=list)
    proxy_shares: list[float] = field(default_factory=list)
    postgres_shares: list[float] = field(default_factory=list)

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
    database_url = None
    if kind in PG_KINDS:
        from bench.postgres import fresh_schema  # noqa: PLC0415 - SQLite runs need no libpq

        # Entered before the bots start: they stop before the schema is dropped.
        database_url = await stack.enter_async_context(fresh_schema(kind.replace("-", "_")))
    processes: list[BotProcess] = []
    ports: list[int] = []
    count = INSTANCES.get(kind, 1)
    for index in range(count):
        # One after the other: the second finds the schema migrated.
        process, port = await start_target(
            kind,
            fake,
            folder,
            database_url=database_url,
            log_name=kind if count == 1 else f"{kind}_{index + 1}",
        )
        stack.push_async_callback(process.stop)
        processes.append(process)
        ports.append(port)
    proxy = None
    if kind in PROXIED:
        proxy, port = await start_proxy(kind, ports)
        stack.push_async_callback(proxy.stop)
    poster = Poster(f"http://127.0.0.1:{port}{webhook_path}", secret)
    stack.push_async_callback(poster.close)
    return Target(kind, processes, fake, poster, watcher, proxy)


async def _measure(workdir: Path, kinds: tuple[str, ...] = KINDS) -> list[Target]:
    """Both bots run side by side; their runs alternate, so a slow spell of a shared machine
    falls on both rather than on whichever happened to be measured then."""
    from bot.telegram.runtime import TELEGRAM_WEBHOOK_PATH, webhook_secret  # noqa: PLC0415

    users = itertools.count(1_000_000, 100_000)
    async with contextlib.AsyncExitStack() as stack:
        targets = [
            await _start(kind, stack, workdir, TELEGRAM_WEBHOOK_PATH, webhook_secret(TOKEN))
            for kind in kinds
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
    pids = [process.pid for process in target.processes]
    cpu_before, wall_before = _cpu_of(pids), time.monotonic()
    proxy_before = _cpu_of([target.proxy.pid]) if target.proxy else None
    postgres_before = postgres_cpu() if target.kind in PG_KINDS else None
    with quiet_collector():
        most = await closed_loop(
            target.poster,
            target.watcher,
            concurrency=MAX_CONCURRENCY,
            duration=MAX_SECONDS,
            first_user=first_user,
        )
    cpu_after, wall = _cpu_of(pids), time.monotonic() - wall_before
    target.add("max", most)
    sizes = [rss_mb(pid) for pid in pids]
    target.rss_mb = sum(size for size in sizes if size is not None) or None
    target.generator_shares.append((_own_cpu() - own_before) / wall)
    if cpu_before is not None and cpu_after is not None:
        target.cpu_shares.append((cpu_after - cpu_before) / wall)
    if target.proxy is not None and proxy_before is not None:
        proxy_after = _cpu_of([target.proxy.pid])
        if proxy_after is not None:
            target.proxy_shares.append((proxy_after - proxy_before) / wall)
    if postgres_before is not None:
        postgres_after = postgres_cpu()
        if postgres_after is not None:
            target.postgres_shares.append((postgres_after - postgres_before) / wall)


def duplicates(fake: FakeTelegramServer) -> int:
    """Messages sent again with the same text to the same chat (every update comes from a chat
    of its own: two instances' delivery workers both sending one outbox message)."""
    seen: set[tuple[object, object]] = set()
    again = 0
    for call in fake.calls:
        if call.method != "sendMessage" or not call.ok:
            continue
        key = (call.params.get("chat_id"), call.params.get("text"))
        if key in seen:
            again += 1
        seen.add(key)
    return again


def _cpu_of(pids: list[int]) -> float | None:
    """User + system CPU seconds of the processes together (None when one cannot be read)."""
    total = 0.0
    for pid in pids:
        seconds = cpu_seconds(pid)
        if seconds is None:
            return None
        total += seconds
    return total


def postgres_cpu() -> float | None:
    """CPU seconds of every ``postgres`` process on this machine so far (the server's share of
    a run: the other schemas' bots are idle meanwhile); None where /proc cannot tell."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if name != "postgres":
            continue
        seconds = cpu_seconds(int(entry.name))
        if seconds is not None:
            total, found = total + seconds, True
    return total if found else None


def _summary(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "runs": {name: [run.summary() for run in runs] for name, runs in target.runs.items()},
        "instances": len(target.processes),
        "behind_proxy": target.proxy is not None,
        "bot_cpu_share_at_max": [round(share, 2) for share in target.cpu_shares],
        "generator_cpu_share_at_max": [round(share, 2) for share in target.generator_shares],
        "proxy_cpu_share_at_max": [round(share, 2) for share in target.proxy_shares],
        "postgres_cpu_share_at_max": [round(share, 2) for share in target.postgres_shares],
        "bot_rss_mb_after_max": target.rss_mb,
        "messages_sent": sum(
            1 for call in target.fake.calls if call.method == "sendMessage" and call.ok
        ),
        "messages_sent_twice": duplicates(target.fake),
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
        bots = "bots" if len(target.processes) > 1 else "bot"
        shares = [
            (bots, target.cpu_shares),
            ("generator+fake", target.generator_shares),
            ("proxy", target.proxy_shares),
            ("PostgreSQL", target.postgres_shares),
        ]
        cpu = ", ".join(
            f"{label} {statistics.median(values):.0%}" for label, values in shares if values
        )
        extra = ""
        if len(target.processes) > 1:
            extra = f"; {TWO_INSTANCES_NOTE}: {duplicates(target.fake)} replies sent twice"
        rows.append(
            Row(SECTION, f"{name}: max throughput ({MAX_CONCURRENCY} concurrent)",
                _rounded(target.median("max", _throughput)), "upd/s",
                note=f"median of {target.listed('max', _throughput)}; p99 "
                f"{target.median('max', _p99) or 0:.0f} ms; CPU: {cpu}{extra}")
        )  # fmt: skip
        lost = sum(run.offered - run.answered for run in target.runs["rate"])
        rows.append(
            Row(SECTION, f"{name}: answered at {RATE:g}/s", _rounded(target.median("rate",
                _throughput)), "upd/s", note=f"{lost} lost" if lost else "none lost")
        )  # fmt: skip
        rows.append(Row(SECTION, f"{name}: p50 at {RATE:g}/s", target.median("rate", _p50), "ms"))
        rows.append(
            Row.checked(SECTION, f"{name}: p99 at {RATE:g}/s", target.median("rate", _p99), "ms",
                        below=P99_TARGET_MS if name.startswith("full") else None,
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
        if kind in targets:
            rows.append(_ratio_row(targets[kind], full, checked=checked))
    cores = f"{os.cpu_count()} cores"
    for over, under, note in (
        ("full-pg", "full", "PostgreSQL / SQLite, one instance each"),
        ("full-pg-proxy", "full-pg", "the proxy's cost (1 instance behind it / reached directly)"),
        ("full-pg-x2", "full-pg-proxy", f"two instances / one, both behind the proxy; {cores}"),
        ("full-pg-x2", "full-pg", f"two behind the proxy / one reached directly; {cores}"),
    ):
        if over in targets and under in targets:
            rows.append(_ratio_row(targets[under], targets[over], checked=False, note=note))
    return rows


def _ratio_row(under: Target, over: Target, *, checked: bool, note: str = "") -> Row:
    """Each round's ratio compares runs a minute apart at most: the median of those is steadier
    on a shared machine than a ratio of two separate medians."""
    ratios = [
        o.throughput / u.throughput
        for u, o in zip(under.runs["max"], over.runs["max"], strict=True)
        if u.throughput
    ]
    value = round(statistics.median(ratios), 3) if ratios else None
    note = "; ".join(
        filter(None, [note, "median of rounds " + " / ".join(f"{r:.2f}" for r in ratios)])
    )
    metric = f"{over.kind} / {under.kind} max throughput"
    if checked:
        return Row.checked(SECTION, metric, value, "ratio", at_least=RATIO_TARGET, note=note)
    return Row(SECTION, metric, value, "ratio", note=note)


def print_side_by_side(targets: dict[str, Target]) -> None:
    """The full bot's figures on each backend and instance count, in one table."""
    labels = {
        "full": "SQLite, 1 instance",
        "full-pg": "PostgreSQL, 1 instance",
        "full-pg-proxy": "PostgreSQL, 1 behind the proxy",
        "full-pg-x2": "PostgreSQL, 2 behind the proxy",
    }
    shown = [kind for kind in labels if kind in targets]
    if len(shown) < 2:
        return
    head = (f"{'full bot (' + str(os.cpu_count()) + ' cores)':<32} {'max upd/s':>10} "
            f"{'p50/p99 at ' + format(RATE, 'g') + '/s':>18} "
            f"{'p50/p99 at ' + format(LOW_RATE, 'g') + '/s':>18}")  # fmt: skip
    print("\n" + head)
    print("-" * len(head))
    for kind in shown:
        target = targets[kind]
        low = target.runs["low"][0]
        rate = f"{target.median('rate', _p50) or 0:.1f} / {target.median('rate', _p99) or 0:.1f}"
        print(
            f"{labels[kind]:<32} {target.median('max', _throughput) or 0:>10.0f} {rate:>18} "
            f"{f'{low.ms(0.5) or 0:.1f} / {low.ms(0.99) or 0:.1f}':>18}"
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run(*, write: bool = True, backend: str = "both") -> dict[str, Any]:
    """Measure the bots, print the section's table, write ``bench/results/webhook.json``.

    ``backend``: ``sqlite`` (the full bot and the echo bots), ``postgres`` (the full bot on
    SQLite and on PostgreSQL, one and two instances) or ``both``. PostgreSQL out of reach
    fails its figures with one line (``errors``) and leaves the SQLite ones standing.
    """
    kinds = KINDS_OF[backend]
    errors: dict[str, str] = {}
    failed: list[Row] = []
    if backend != "sqlite":
        reason = asyncio.run(_postgres_unreachable())
        if reason is not None:
            errors["postgres"] = reason
            failed.append(Row(SECTION, "PostgreSQL webhook runs", "failed", ok=False, note=reason))
            kinds = KINDS_OF["sqlite"] if backend == "both" else ()
    targets: dict[str, Target] = {}

    async def measure_all() -> tuple[list[Row], dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="bench-webhook-") as folder:
            for target in await _measure(Path(folder), kinds):
                targets[target.kind] = target
            return _rows(targets), {"runs": [_summary(t) for t in targets.values()]}

    load_before = _load()
    rows, runs = asyncio.run(measure_all()) if kinds else ([], {"runs": []})
    load = f"1-minute load average {load_before} before the runs, {_load()} after"
    if rows:
        rows.append(Row(SECTION, "machine: cores", os.cpu_count(), note=load))
    rows = failed + rows
    print_rows(rows, title="Webhook: full bot vs aiogram echo bots (separate processes)")
    print_side_by_side(targets)
    result = {
        "setup": {
            "rate": RATE,
            "rate_seconds": RATE_SECONDS,
            "rounds": ROUNDS,
            "max_concurrency": MAX_CONCURRENCY,
            "max_seconds": MAX_SECONDS,
            "cpus": os.cpu_count(),
            "latency": "update due -> first sendMessage at the fake Bot API",
            "kinds": list(kinds),
            "machine": load,
            "two_instances": TWO_INSTANCES_NOTE,
        },
        **runs,
        "errors": errors,
        "rows": [row.as_dict() for row in rows],
    }
    if write:
        write_json("webhook" if backend == "both" else f"webhook_{backend}", result)
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


def _load() -> str:
    """The 1-minute load average (other work on a shared machine slows every figure)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


async def _postgres_unreachable() -> str | None:
    """Why the benchmark's PostgreSQL cannot be used, or None when it can (within seconds)."""
    from bench.postgres import PostgresUnavailable, admin_connection, server_url  # noqa: PLC0415

    try:
        connection = await admin_connection(server_url())
    except PostgresUnavailable as error:
        return str(error)
    await connection.close()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", *ECHO_KINDS])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--backend", choices=sorted(KINDS_OF), default="both")
    args = parser.parse_args(argv)
    if args.mode in ECHO_KINDS:
        asyncio.run(echo_bot(args.port, tuned=args.mode == "echo-tuned"))
    elif run(backend=args.backend)["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
