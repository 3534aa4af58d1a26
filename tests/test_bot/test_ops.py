"""The ops listener (``bot.ops``): /healthz, /readyz and /metrics over real HTTP on 127.0.0.1,
with a real SQLite file; in process for the checks and the metrics, ``python -m bot`` for the
modes (worker, console), and the messengers in process (polling and webhook)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import json_formatter, run_messengers, start_notifier
from bot.compose import Core, build_core
from bot.notifier import Notifier
from bot.ops import OpsServer
from bot.settings import Settings
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind, Reply
from domain.requests import Actor, Category, RequestDraft, Status
from fakes.recording import RecordingChannel
from fakes.telegram_api import FakeTelegramServer
from fakes.telegram_updates import message_update
from fakes.viber_api import DEFAULT_TOKEN, FakeViberServer, message_callback, signed_callback
from services.outbox import enqueue
from storage.maintenance import DatabaseHealth

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST"
QUESTION = "як отримати довідку ВПО"  # answered from the knowledge base
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def label_values(samples: Samples) -> set[str]:
    return {label for _, labels in samples for _, label in labels}


@dataclass
class Ops:
    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def metrics(self) -> Samples:
        status, text = await self.get("/metrics")
        assert status == 200
        return parse_metrics(text)

    async def until(
        self,
        check: Callable[[], Awaitable[bool]],
        *,
        timeout: float = 20,  # noqa: ASYNC109 - bounds polling an endpoint
        what: str = "",
    ) -> None:
        for _ in range(int(timeout / 0.05)):
            try:
                if await check():
                    return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"not reached in {timeout} s: {what}")

    async def ready(self) -> bool:
        status, _ = await self.get("/readyz")
        return status == 200


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        quiet_hours="",
        **values,
    )


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    built = await build_core(settings_for(tmp_path, ops_port=None))
    try:
        yield built
    finally:
        await built.close()


def health_of(core: Core) -> DatabaseHealth:
    assert core.health is not None
    return core.health


@pytest.fixture
def ops_port() -> int:
    return free_port()


@pytest.fixture
async def ops_server(core: Core, ops_port: int) -> AsyncIterator[OpsServer]:
    server = OpsServer(
        core.metrics, storage=core.storage, database=health_of(core), clock=core.clock, timeout=0.5
    )
    await server.start("127.0.0.1", ops_port)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def ops(ops_server: OpsServer, ops_port: int, http: aiohttp.ClientSession) -> Ops:
    return Ops(f"http://127.0.0.1:{ops_port}", http)


@pytest.fixture
async def channel(core: Core, ops_server: OpsServer) -> AsyncIterator[RecordingChannel]:
    """The worker and the scheduler running, delivering console chats to a recorder."""
    recorder = RecordingChannel()
    notifier = await start_notifier(core, {ChannelName.CONSOLE: recorder})
    ops_server.notifier = notifier
    try:
        yield recorder
    finally:
        await notifier.close()


# -- /healthz and /readyz ---------------------------------------------------------------------


async def test_healthz_answers_and_readyz_waits_for_the_worker_and_the_scheduler(
    core: Core, ops_server: OpsServer, ops: Ops
) -> None:
    assert await ops.get("/healthz") == (200, {"status": "ok"})
    status, body = await ops.get("/readyz")
    assert status == 503
    assert body["failing"] == ["delivery_worker", "scheduler"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"

    notifier = await start_notifier(core, {ChannelName.CONSOLE: RecordingChannel()})
    ops_server.notifier = notifier
    try:
        status, body = await ops.get("/readyz")
        assert status == 200
        assert body == {
            "status": "ready",
            "role": "leader",
            "checks": {
                "database": "ok",
                "migrations": "ok",
                "delivery_worker": "ok",
                "scheduler": "ok",
                "shutdown": "ok",
            },
        }
    finally:
        await notifier.close()
    status, body = await ops.get("/readyz")
    assert status == 503
    assert body["failing"] == ["delivery_worker", "scheduler"]
    assert body["checks"]["delivery_worker"] == "leader election not running"


async def test_a_follower_is_ready_though_its_worker_and_scheduler_are_idle(
    core: Core, ops_server: OpsServer, ops: Ops, tmp_path: Path
) -> None:
    """Two processes on one database: one leads (delivers, schedules); the other is ready
    too, says it follows, and takes over when the leader stops."""
    leader = await start_notifier(core, {ChannelName.CONSOLE: RecordingChannel()})
    other = await build_core(settings_for(tmp_path, ops_port=None, leader_timeout=1))
    follower: Notifier | None = None
    try:
        follower = await start_notifier(other, {ChannelName.CONSOLE: RecordingChannel()})
        ops_server.notifier = follower
        assert (leader.role, follower.role) == ("leader", "follower")
        assert not follower.worker_running
        assert not follower.scheduler_running
        status, body = await ops.get("/readyz")
        assert (status, body["status"], body["role"]) == (200, "ready", "follower")
        assert value(await ops.metrics(), "bot_leader") == 0
        await leader.close()
        deadline = time.monotonic() + 10
        while follower.role != "leader":
            assert time.monotonic() < deadline, "the follower did not take over"
            await asyncio.sleep(0.05)
        assert follower.worker_running
        assert follower.scheduler_running
        status, body = await ops.get("/readyz")
        assert (status, body["role"]) == (200, "leader")
        assert value(await ops.metrics(), "bot_leader") == 1
    finally:
        if follower is not None:
            await follower.close()
        await leader.close()
        await other.close()


async def test_readyz_is_503_naming_the_database_while_another_process_holds_the_write_lock(
    core: Core, ops: Ops, channel: RecordingChannel, tmp_path: Path
) -> None:
    assert await ops.ready()
    with closing(sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        status, body = await ops.get("/readyz")
        other.execute("ROLLBACK")
    assert status == 503
    assert body["status"] == "not ready"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] != "ok"
    # The lock released, the probe writes again: ready.
    assert await ops.ready()


async def test_readyz_is_503_naming_migrations_when_the_database_is_behind_the_code(
    core: Core, ops: Ops, channel: RecordingChannel, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(tmp_path / "bot.sqlite3", isolation_level=None)) as other:
        other.execute(
            "DELETE FROM schema_migrations"
            " WHERE version = (SELECT MAX(version) FROM schema_migrations)"
        )
    status, body = await ops.get("/readyz")
    assert status == 503
    assert body["failing"] == ["migrations"]
    assert "this code's newest is" in body["checks"]["migrations"]


async def test_readyz_is_503_shutting_down_once_shutdown_begins(
    ops_server: OpsServer, ops: Ops, channel: RecordingChannel
) -> None:
    assert await ops.ready()
    ops_server.begin_shutdown()
    status, body = await ops.get("/readyz")
    assert status == 503
    assert body == {
        "status": "shutting down",
        "role": "leader",
        "failing": ["shutdown"],
        "checks": {"shutdown": "shutting down"},
    }
    assert (await ops.get("/healthz"))[0] == 200  # alive until the listener closes


async def test_no_port_no_listener(core: Core) -> None:
    server = OpsServer(
        core.metrics, storage=core.storage, database=health_of(core), clock=core.clock
    )
    await server.start("127.0.0.1", None)
    assert server._runner is None
    await server.stop()


async def test_a_taken_port_is_one_line_naming_ops_port(core: Core) -> None:
    server = OpsServer(
        core.metrics, storage=core.storage, database=health_of(core), clock=core.clock
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Exception, match=f"OPS_PORT: cannot listen on 127.0.0.1:{port}"):
            await server.start("127.0.0.1", port)


# -- /metrics ---------------------------------------------------------------------------------


async def test_metrics_change_as_the_bot_works_and_hold_no_personal_data(
    core: Core, ops: Ops, channel: RecordingChannel
) -> None:
    resident = UserRef(ChannelName.TELEGRAM, "5550001")
    before = await ops.metrics()

    # A consultation from free text, then the same update again (a redelivery).
    incoming = Incoming(resident, Kind.TEXT, text=QUESTION, update_key="tg:900001")
    assert (await core.conversation.process(incoming)).replies
    assert (await core.conversation.process(incoming)).replies == []
    after = await ops.metrics()
    ok = {"channel": "telegram", "outcome": "ok"}
    duplicate = {"channel": "telegram", "outcome": "duplicate"}
    assert value(after, "bot_updates_total", **ok) == value(before, "bot_updates_total", **ok) + 1
    assert (
        value(after, "bot_updates_total", **duplicate)
        == value(before, "bot_updates_total", **duplicate) + 1
    )
    latency = "bot_update_handling_seconds_count"
    handled = value(before, latency, channel="telegram")
    assert value(after, latency, channel="telegram") == handled + 2
    assert total(after, "bot_consultations_total") == total(before, "bot_consultations_total") + 1
    assert value(after, "bot_consultations_total", decision="answer", source="text") == 1

    # A request filed and closed through the request service.
    assert core.requests is not None
    async with core.storage.transaction() as session:
        stored = await session.residents.touch(resident, now=core.clock.now())
        draft = RequestDraft(Category.WATER, "Третій день немає води в під'їзді")
        request = await core.requests.create(session, stored, draft)
    async with core.storage.transaction() as session:
        await core.requests.change_status(session, request.id, Status.DONE, Actor.system())
    after = await ops.metrics()
    assert value(after, "bot_requests_created_total", category="water") == 1
    assert value(after, "bot_requests_closed_total", status="done") == 1

    # A message for a chat no channel of this process serves stays pending: the depth and the
    # age of the oldest pending message are read from the database when scraped.
    pending_before = value(after, "bot_outbox_pending")
    async with core.storage.transaction() as session:
        await enqueue(
            session,
            key="ops-test:pending",
            chat=resident,
            replies=[Reply("очікує")],
            kind="status",
            now=core.clock.now() - timedelta(minutes=5),
        )
    after = await ops.metrics()
    assert value(after, "bot_outbox_pending") == pending_before + 1
    assert value(after, "bot_outbox_oldest_pending_age_seconds") >= 300

    # A message the worker sends (a console chat): counted as sent.
    sent = {"channel": "console", "outcome": "sent"}
    sent_before = value(after, "bot_deliveries_total", **sent)
    console = UserRef(ChannelName.CONSOLE, "operator")
    async with core.storage.transaction() as session:
        await enqueue(
            session,
            key="ops-test:sent",
            chat=console,
            replies=[Reply("доставлено")],
            kind="status",
            now=core.clock.now(),
        )

    async def delivered() -> bool:
        samples = await ops.metrics()
        return value(samples, "bot_deliveries_total", **sent) == sent_before + 1

    await ops.until(delivered, what="the worker's send counted")
    assert channel.texts(console) == ["доставлено"]

    # No label value carries who wrote or what: only bounded enumerations.
    labels = label_values(await ops.metrics())
    assert not any("5550001" in label or "operator" in label for label in labels)
    assert not any(word in label for label in labels for word in QUESTION.split() if len(word) > 2)
    assert labels <= (
        {"telegram", "viber", "console", "ok", "duplicate", "busy", "error"}
        | {"sent", "retried", "rate_limited", "dead_letter", "blocked"}
        | {"answer", "suggest", "unknown", "text", "water", "done"}
        | {str(bucket) for bucket in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)}
        | {"1.0", "2.5", "5.0", "10.0", "+Inf"}
    )


def test_json_log_lines_carry_the_fields_a_call_adds() -> None:
    record = logging.LogRecord(
        "handlers.conversation", logging.INFO, __file__, 1, "duplicate update %s ignored",
        ("tg:77",), None,
    )  # fmt: skip
    record.update_key = "tg:77"
    line = json_formatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "INFO"
    assert parsed["logger"] == "handlers.conversation"
    assert parsed["message"] == "duplicate update tg:77 ignored"
    assert parsed["update_key"] == "tg:77"
    assert parsed["timestamp"].endswith("+00:00")


# -- the messengers, in process -----------------------------------------------------------------


async def run_until_ready(
    settings: Settings, http: aiohttp.ClientSession
) -> tuple[Ops, asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_messengers(settings, stop=stop))
    ops = Ops(f"http://127.0.0.1:{settings.ops_port}", http)

    async def ready() -> bool:
        if task.done():
            task.result()
        return await ops.ready()

    await ops.until(ready, what="/readyz 200")
    return ops, stop, task


async def stop_and_check_closed(ops: Ops, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await ops.get("/healthz")


async def test_ops_endpoints_in_telegram_polling_mode(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with FakeTelegramServer(token=TOKEN) as telegram:
        settings = settings_for(
            tmp_path,
            telegram_token=TOKEN,
            telegram_api_url=telegram.base_url,
            ops_host="127.0.0.1",
            ops_port=free_port(),
        )
        ops, stop, task = await run_until_ready(settings, http)
        try:
            assert await ops.get("/healthz") == (200, {"status": "ok"})
            before = await ops.metrics()
            mark = len(telegram.calls)
            telegram.push_update(message_update(7001, QUESTION))
            await telegram.wait_for_sent(7001, count=1, start=mark, timeout=30)
            ok = {"channel": "telegram", "outcome": "ok"}

            async def counted() -> bool:
                after = await ops.metrics()
                return (
                    value(after, "bot_updates_total", **ok)
                    == (value(before, "bot_updates_total", **ok) + 1)
                    and total(after, "bot_consultations_total") == 1
                )

            await ops.until(counted, what="the polled update counted")
        finally:
            await stop_and_check_closed(ops, stop, task)


async def test_ops_endpoints_in_webhook_mode(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with FakeViberServer() as viber:
        webhook_port = free_port()
        settings = settings_for(
            tmp_path,
            viber_token=DEFAULT_TOKEN,
            viber_api_url=viber.base_url,
            webhook_base_url="https://bot.example.test",
            webhook_port=webhook_port,
            webhook_host="127.0.0.1",
            ops_port=free_port(),
        )
        ops, stop, task = await run_until_ready(settings, http)
        try:
            before = await ops.metrics()
            raw, headers = signed_callback(message_callback("v-ops", text=QUESTION))
            url = f"http://127.0.0.1:{webhook_port}/viber"
            async with http.post(url, data=raw, headers=headers) as response:
                assert response.status == 200
            after = await ops.metrics()
            ok = {"channel": "viber", "outcome": "ok"}
            assert value(after, "bot_updates_total", **ok) == (
                value(before, "bot_updates_total", **ok) + 1
            )
            assert value(after, "bot_update_handling_seconds_count", channel="viber") >= 1
            assert "v-ops" not in "".join(label_values(after))
        finally:
            await stop_and_check_closed(ops, stop, task)


# -- python -m bot ------------------------------------------------------------------------------


def bot_env(tmp_path: Path, **values: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        TELEGRAM_TOKEN="",
        VIBER_TOKEN="",
        QUIET_HOURS="",
        LOG_LEVEL="INFO",
    )
    env.update(values)
    return env


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (Linux: its socket inodes in /proc/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def start_bot(
    tmp_path: Path, *args: str, env: dict[str, str], stdin: int | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=env,
        stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")
async def test_worker_process_serves_ops_and_logs_json(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    env = bot_env(tmp_path, OPS_PORT=str(port), LOG_FORMAT="json")
    process = await start_bot(tmp_path, "worker", env=env)
    ops = Ops(f"http://127.0.0.1:{port}", http)
    try:

        async def ready() -> bool:
            assert process.returncode is None, "the worker exited"
            return await ops.ready()

        await ops.until(ready, timeout=60, what="the worker's /readyz")
        assert await ops.get("/healthz") == (200, {"status": "ok"})
        samples = await ops.metrics()
        assert value(samples, "bot_outbox_pending") == 0
        sent = frozenset({("channel", "telegram"), ("outcome", "sent")})
        assert samples[("bot_deliveries_total", sent)] == 0  # every series from the start
        assert listening_ports(process.pid) == {port}
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    lines = stderr.decode().splitlines()
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record)
    assert any(record["message"] == "delivery worker started" for record in records)


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")
async def test_worker_process_with_empty_ops_port_listens_nowhere(tmp_path: Path) -> None:
    process = await start_bot(tmp_path, "worker", env=bot_env(tmp_path, OPS_PORT=""))
    try:
        assert process.stderr is not None
        while b"delivery worker started" not in await asyncio.wait_for(
            process.stderr.readline(), timeout=60
        ):
            assert process.returncode is None
        assert listening_ports(process.pid) == set()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0


async def test_console_process_serves_ops(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    port = free_port()
    env = bot_env(tmp_path, OPS_PORT=str(port))
    process = await start_bot(tmp_path, "console", env=env, stdin=asyncio.subprocess.PIPE)
    ops = Ops(f"http://127.0.0.1:{port}", http)
    assert process.stdin is not None
    try:
        await ops.until(ops.ready, timeout=60, what="the console's /readyz")
        ok = {"channel": "console", "outcome": "ok"}

        async def greeted() -> bool:  # the console handles /start by itself
            return value(await ops.metrics(), "bot_updates_total", **ok) == 1

        await ops.until(greeted, what="the greeting counted")
        process.stdin.write(f"{QUESTION}\n".encode())
        await process.stdin.drain()

        async def answered() -> bool:
            samples = await ops.metrics()
            return (
                value(samples, "bot_updates_total", **ok) == 2
                and total(samples, "bot_consultations_total") == 1
            )

        await ops.until(answered, what="the question counted")
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
