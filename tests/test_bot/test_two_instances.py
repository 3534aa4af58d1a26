"""Two bot instances on one PostgreSQL database behind a round-robin proxy, one SIGKILLed
mid-burst (issue 14): every update answered once, every status change and follow-up once.

Two ``python -m bot`` processes run in webhook mode on a fresh PostgreSQL schema against one fake
Telegram Bot API (this process); ``fakes.round_robin`` sends each webhook post to the next one.
Residents (concurrently, each one step at a time, the next update only after the previous one got
its 200 and its answer, as Telegram and a person do) file a water request each: /start, "Нова
заявка", category, district, consent, address, description, no photo, phone, "Підтвердити". An
operator (``OPERATOR_IDS``) presses "В роботі" and then "Виконано" on every card in the staff
chat; ``FOLLOWUP_DELAY`` later each resident is asked whether it was done and answers "Так", 5
and "Пропустити". Once KILL_AT requests are confirmed, instance A is SIGKILLed at the next 200 it
gives a resident (right then it sends that reply, whose answer the fake holds HOLD seconds so
that it is surely in flight; cards, status changes and follow-ups are on their way). Either a
service manager starts A again RESTART_AFTER seconds later ("restarted": meanwhile the next
message B sends is held in flight by the fake until A has started and had RECOVERY seconds, so
A's start-up must not take over what a live instance is sending), or nobody does ("left dead":
B alone must finish everything A left in flight). Every post that got no 200 (the proxy's
502 for a connection cut by the kill) is posted again through the proxy until it gets one, as
Telegram redelivers; arrivals go on past the kill and the restart.

Checked, from the fake's recorded calls and the database (every problem is listed, then the
test fails on any):

* every resident update is processed once (its key in ``processed_updates``, one reply row,
  ``duplicate update`` for a redelivery of what was committed) and answered once: every message
  the fake got is one recorded in an outbox row's ``sent_ids``, or a repeat of a row that was
  provably in flight at the kill (see ``excused``);
* every request has its number, one per resident, told to the resident;
* every status change (history entry) is delivered to its resident exactly once, and the
  history is consistent: new -> in_progress -> done, each from the status before it;
* the follow-up is asked exactly once per request and answered (yes, rating 5);
* every outbox row ends SENT; nobody waits for an answer longer than PATIENCE; the kill cut
  something off (a post, or a row SENDING); the instances still running stop cleanly (SIGTERM).

The bound for repeats is explicit: a message may come twice (once more, never three times) only
when its outbox row was SENDING at the kill and (for a resident's reply) the update was
acknowledged by the killed instance; for rows of the delivery worker (status changes, cards,
follow-ups) SENDING at the kill is taken as in flight whichever instance held it (the database
does not say which; with one delivery leader only the leader's are). A message B sends after the
kill is never excused.

Telegram's 20 messages a minute to one group is raised for the staff chat (pacing is not what
this test is about, and 30 cards would take 90 s). The command of an instance is
``INSTANCE_COMMAND``; for the other shape (``python -m bot web`` instances and leader-elected
``worker`` processes) switch it there and add the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.rows import dict_row

from bot.telegram.runtime import TELEGRAM_WEBHOOK_PATH, webhook_secret
from fakes.round_robin import UPSTREAM_HEADER, RoundRobinProxy
from fakes.telegram_api import FakeTelegramServer, RecordedCall
from fakes.telegram_updates import message_update, user_dict
from tests.postgres import fresh_schema
from tests.test_bot.test_crash_ack import free_port, port_listens, stop_process

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-two-instances"
PUBLIC_URL = "https://bot.example.test"  # only registered with the fake; never reached
STAFF_CHAT = -1_001_520_000_001
OPERATOR = 77_000_001
RESIDENTS = 30
FIRST_RESIDENT = 8_100_000
STAGGER = 0.3  # seconds between two residents' first messages: arrivals go on past the restart
# Instance A is SIGKILLed at the first 200 it gives a resident once this many requests are
# confirmed: right then it sends that reply (held in flight by the fake, see Scenario.arm).
KILL_AT = RESIDENTS // 3
HOLD = 2.0  # seconds the fake holds the answer to a reply sent just before the kill
RESTART_AFTER = 1.0  # seconds until the service manager starts instance A again
RECOVERY = 1.5  # seconds B's held message stays in flight after A listens again
REDELIVERY_DELAY = 0.25  # seconds before a post that got no 200 comes again
WAIT = 60.0  # seconds at most for an instance to start
# Seconds a resident or the operator waits for an answer before giving up: the follow-up may
# come after a card held across A's restart, a leader's fail-over, FOLLOWUP_DELAY and a tick.
PATIENCE = 45.0
# Webhooks and, while elected, delivery and the scheduler; ("-m", "bot", "web") would answer
# webhooks only (then add leader-elected ``worker`` processes).
INSTANCE_COMMAND = ("-m", "bot")
DUPLICATE = re.compile(r"duplicate update (\S+) ignored")
NUMBER = re.compile(r"Номер заявки: (1520-\d{6})")
CARD_NUMBER = re.compile(r"Заявка (1520-\d{6})")


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Press:
    data: str  # a regular expression the button's callback data must match in full


FILING: tuple[Say | Press, ...] = (
    Say("/start"),
    Press("v1:req_new"),
    Press("v1:rq:cat:water"),
    Press("v1:rq:dist:ternivskyi"),
    Press("v1:rq:consent:yes"),
    Say("вул. Світлогірська, {n}"),
    Say("Немає холодної води з самого ранку, будинок {n}"),
    Press("v1:rq:photos"),  # no photo
    Say("067 123 45 {n:02d}"),
    Press("v1:rq:ok"),  # Підтвердити
)
FOLLOW_UP: tuple[Press, ...] = (
    Press(r"v1:fu:\d+:y"),  # ✅ Так
    Press(r"v1:fur:\d+:5"),  # rating 5
    Press(r"v1:fux:\d+"),  # no comment: Пропустити
)


class Stuck(Exception):
    """A resident or the operator waited for an answer in vain."""


@dataclass
class Attempt:
    status: int  # 0: no answer at all
    upstream: str | None  # the instance that answered (the proxy's header)
    at: float  # time.monotonic() when the answer came


@dataclass
class Delivery:
    """One update and every time it was posted."""

    key: str
    chat: int
    resident: bool
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> Attempt:
        [ok] = [attempt for attempt in self.attempts if attempt.status == 200]
        return ok


class Instance:
    """One bot process on a port of its own, its output in a log file per run."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.port = int(env["WEBHOOK_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.folder = folder
        self.process: asyncio.subprocess.Process | None = None
        self.logs: list[Path] = []

    async def start(self) -> None:
        log = self.folder / f"{self.name}-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *INSTANCE_COMMAND,
                cwd=self.folder, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while not await self.listening():
            if self.process.returncode is not None:
                pytest.fail(f"{self.name} exited by itself:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: nothing listens on {self.port}\n{self.output()}")
            await asyncio.sleep(0.05)

    async def listening(self) -> bool:
        return await port_listens(self.port)

    def output(self, lines: int = 40) -> str:
        if not self.logs:
            return ""
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-lines:])

    def text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int | None:
        """SIGTERM and the exit code (SIGKILL after 30 s)."""
        return await stop_process(self.process)


def instance_env(
    name: str, database_url: str, telegram: FakeTelegramServer, folder: Path
) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.base_url,
        WEBHOOK_BASE_URL=PUBLIC_URL,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(free_port()),
        OPS_PORT="",
        STAFF_CHAT_ID=str(STAFF_CHAT),
        OPERATOR_IDS=str(OPERATOR),
        FOLLOWUP_DELAY="PT3S",
        QUIET_HOURS="",
        # One delivery and scheduler leader at a time: a dead leader's place is taken within
        # seconds (15 by default), well within PATIENCE.
        LEADER_TIMEOUT="5",
        # What a dead instance was sending is sent by the leader once its lease runs out (60 s
        # by default; renewed while a live sender still sends): well within PATIENCE here.
        OUTBOX_LEASE_SECONDS="5",
        # Cards for every request go to one staff group; Telegram's 20 a minute there would
        # make the test last minutes (pacing is tested elsewhere; the fake does not enforce it).
        RATE_LIMIT_PER_GROUP_PER_MINUTE="1200",
        LOG_LEVEL="INFO",
        MEDIA_DIR=str(folder / f"media-{name}"),
    )
    return env


class Chats:
    """What the fake sent, by chat, and a wake-up for whoever waits on a chat."""

    def __init__(self, telegram: FakeTelegramServer) -> None:
        self.telegram = telegram
        self.sent: dict[int, list[RecordedCall]] = defaultdict(list)
        self.changed: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        telegram.on_call = self.on_call

    def on_call(self, call: RecordedCall) -> None:
        chat = call.chat_id
        if not call.ok or not isinstance(chat, int):
            return
        if call.is_sent_message:
            self.sent[chat].append(call)
        self.changed[chat].set()

    async def until(self, chat: int, found: Callable[[], Any], what: str) -> Any:
        """Wait until ``found()`` is truthy (checked again at every call for the chat)."""
        deadline = time.monotonic() + PATIENCE
        event = self.changed[chat]
        while True:
            event.clear()
            if result := found():
                return result
            if time.monotonic() > deadline:
                recent = "\n  ".join(c.summary() for c in self.sent[chat][-5:])
                raise Stuck(f"chat {chat}: no {what} within {PATIENCE:g} s; last sent:\n  {recent}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), 0.5)

    def more(self, chat: int, since: int) -> bool:
        """Something was sent to ``chat`` after its ``since`` first messages."""
        return len(self.sent[chat]) > since

    def button(self, chat: int, pattern: str, since: int) -> tuple[dict[str, Any], str] | None:
        """The newest message sent to ``chat`` (the ``since``-th on) whose current keyboard has a
        button with data matching ``pattern``; the message and that data."""
        for call in reversed(self.sent[chat][since:]):
            message = self.telegram.message(chat, int(call.result["message_id"]))
            markup = (message or {}).get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if isinstance(data, str) and re.fullmatch(pattern, data):
                        assert message is not None
                        return message, data
        return None


class Scenario:
    """The residents, the operator, the kill and the restart."""

    def __init__(
        self,
        telegram: FakeTelegramServer,
        proxy: RoundRobinProxy,
        http: aiohttp.ClientSession,
        victim: Instance,
    ) -> None:
        self.telegram = telegram
        self.chats = Chats(telegram)
        self.proxy = proxy
        self.http = http
        self.victim = victim
        self.deliveries: dict[str, Delivery] = {}
        self.update_ids = itertools.count(900_001)
        self.query_ids = itertools.count(6_100_000_000_000_000_001)
        self.numbers: dict[int, str] = {}  # resident chat -> request number
        self.confirmed = 0
        self.killed_at: float | None = None
        self.killed = asyncio.Event()
        self.operator_tasks: list[asyncio.Task[None]] = []
        self.stuck: list[str] = []  # who waited in vain, for what
        self.began = time.monotonic()
        self.timeline: dict[str, float] = {}  # what happened when, seconds from the start

    def mark(self, what: str) -> None:
        self.timeline[what] = round(time.monotonic() - self.began, 1)

    # -- posting ------------------------------------------------------------------------------

    async def deliver(
        self, chat: int, update: dict[str, Any], *, resident: bool = True
    ) -> Delivery:
        """Post ``update`` through the proxy until it gets a 200."""
        self.telegram.observe_update(update)
        key = f"tg:{update['update_id']}"
        delivery = self.deliveries[key] = Delivery(key, chat, resident)
        if resident:
            self.arm(chat)
        body = json.dumps(update, ensure_ascii=False).encode()
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": webhook_secret(TOKEN),
            "Content-Type": "application/json",
        }
        deadline = time.monotonic() + PATIENCE
        while True:
            status, upstream = 0, None
            try:
                async with self.http.post(
                    self.proxy.base_url + TELEGRAM_WEBHOOK_PATH, data=body, headers=headers
                ) as response:
                    await response.read()
                    status, upstream = response.status, response.headers.get(UPSTREAM_HEADER)
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            delivery.attempts.append(Attempt(status, upstream, time.monotonic()))
            if status == 200:
                if resident:
                    self.kill_if_due(upstream)
                return delivery
            if time.monotonic() > deadline:
                raise Stuck(f"{key} refused again and again: {delivery.attempts}")
            await asyncio.sleep(REDELIVERY_DELAY)

    def press_update(self, chat: int, message: dict[str, Any], data: str, user: int) -> Any:
        query = {
            "id": str(next(self.query_ids)),
            "from": user_dict(user, first_name="Оператор" if user == OPERATOR else "Мешканка"),
            "message": message,
            "chat_instance": str(abs(chat) * 7919 % 10**18),
            "data": data,
        }
        return {"update_id": next(self.update_ids), "callback_query": query}

    # -- the people ---------------------------------------------------------------------------

    async def resident(self, index: int) -> None:
        try:
            await self.file_and_answer(index)
        except Stuck as stuck:
            self.stuck.append(f"resident {index + 1}: {stuck}")

    async def file_and_answer(self, index: int) -> None:
        chat = FIRST_RESIDENT + index
        await asyncio.sleep(index * STAGGER)
        since = 0
        for step in (*FILING, *FOLLOW_UP):
            if isinstance(step, Say):
                if since > 0:  # the previous answer came (a person reads it first)
                    await self.chats.until(chat, partial(self.chats.more, chat, since), "an answer")
                mark = len(self.chats.sent[chat])
                text = step.text.format(n=index + 1)
                update = message_update(
                    chat, text, update_id=next(self.update_ids), first_name="Мешканка"
                )
                await self.deliver(chat, update)
            else:
                message, data = await self.chats.until(
                    chat,
                    partial(self.chats.button, chat, step.data, since),
                    f"a button {step.data}",
                )
                mark = len(self.chats.sent[chat])
                await self.deliver(chat, self.press_update(chat, message, data, chat))
                if data == "v1:rq:ok":
                    self.on_confirmed()
                    number = await self.chats.until(
                        chat, partial(self.number_told, chat, mark), "the request number"
                    )
                    self.numbers[chat] = number
                    operator = asyncio.create_task(self.operator(number))
                    self.operator_tasks.append(operator)
            since = mark
        # The last answer (thanks for the feedback) came.
        await self.chats.until(chat, partial(self.chats.more, chat, since), "the thanks")

    def number_told(self, chat: int, since: int) -> str | None:
        for call in self.chats.sent[chat][since:]:
            if found := NUMBER.search(call.text or ""):
                return found.group(1)
        return None

    async def operator(self, number: str) -> None:
        try:
            await self.work_on(number)
        except Stuck as stuck:
            self.stuck.append(f"operator on {number}: {stuck}")

    async def work_on(self, number: str) -> None:
        """Presses "В роботі", then "Виконано", on the request's card in the staff chat."""
        request_id = int(number.split("-")[1])
        for status in ("in_progress", "done"):
            message, data = await self.chats.until(
                STAFF_CHAT,
                partial(self.card_button, number, f"v1:st:{request_id}:{status}"),
                f"{number}: the card's button {status}",
            )
            await self.deliver(
                STAFF_CHAT,
                self.press_update(STAFF_CHAT, message, data, OPERATOR),
                resident=False,
            )

    def card_button(self, number: str, data: str) -> tuple[dict[str, Any], str] | None:
        for call in self.chats.sent[STAFF_CHAT]:
            if f"Заявка {number}" not in (call.text or ""):
                continue
            message = self.telegram.message(STAFF_CHAT, int(call.result["message_id"]))
            markup = (message or {}).get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
            if message is not None and any(b.get("callback_data") == data for b in buttons):
                return message, data
        return None

    # -- the kill -----------------------------------------------------------------------------

    def arm(self, chat: int) -> None:
        """Near the kill, the answer to a resident's next reply is held HOLD seconds by the fake
        (the message itself is delivered at once): when A took the update, A is killed with
        that reply in flight, delivered and not yet recorded, every time."""
        if self.confirmed >= KILL_AT - 1 and not self.killed.is_set():
            self.telegram.faults.add(
                kind="timeout", method="sendMessage", chat_id=chat, delay=HOLD, times=1
            )

    def kill_if_due(self, upstream: str | None) -> None:
        """The first 200 A gives a resident once KILL_AT requests are confirmed kills A."""
        if self.confirmed >= KILL_AT and upstream == self.victim.url and not self.killed.is_set():
            self.victim.kill()
            self.killed_at = time.monotonic()
            self.killed.set()
            self.mark("A killed")

    def on_confirmed(self) -> None:
        self.confirmed += 1
        if self.confirmed == RESIDENTS:
            self.mark("all filed")


# ------------------------------------------------------------------------------------------
# The database
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    kind: str
    chat: str
    status: str
    sent_ids: tuple[str, ...]


async def outbox_rows(url: str) -> dict[str, Row]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = await db.execute(
            "SELECT idempotency_key, kind, chat_id, status, sent_ids FROM outbox ORDER BY id"
        )
        return {
            key: Row(key, kind, chat, status, tuple(json.loads(sent) if sent else ()))
            for key, kind, chat, status, sent in await cursor.fetchall()
        }


async def query(url: str, sql: str) -> list[dict[str, Any]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cursor = db.cursor(row_factory=dict_row)
        await cursor.execute(sql)
        return await cursor.fetchall()


async def settled(url: str) -> bool:
    rows = await outbox_rows(url)
    [open_followups] = await query(url, "SELECT COUNT(*) AS n FROM followups WHERE rating IS NULL")
    return all(row.status == "sent" for row in rows.values()) and open_followups["n"] == 0


# ------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
@pytest.mark.parametrize("restart", [True, False], ids=["restarted", "left-dead"])
async def test_two_instances_behind_a_proxy_answer_and_notify_once_through_a_sigkill(
    restart: bool, tmp_path: Path
) -> None:
    async with (
        fresh_schema() as url,
        FakeTelegramServer(token=TOKEN) as telegram,
    ):
        telegram.add_chat(STAFF_CHAT, type="supergroup", title="Оператори 1520")
        a = Instance("a", instance_env("a", url, telegram, tmp_path), tmp_path)
        b = Instance("b", instance_env("b", url, telegram, tmp_path), tmp_path)
        started = time.monotonic()
        released = asyncio.Event()  # ends the hold of B's message in flight across the restart
        hold_armed: list[float] = []  # when that hold was armed
        try:
            # At once: one of them migrates the fresh schema (under an advisory lock).
            await asyncio.gather(a.start(), b.start())
            async with (
                RoundRobinProxy([a.url, b.url]) as proxy,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            ):
                scenario = Scenario(telegram, proxy, http, a)

                async def service_manager() -> dict[str, Row]:
                    """At the kill: what was SENDING; RESTART_AFTER later, A again (if so),
                    while B has a message in flight (the next one B sends: the fake holds
                    its answer until A is up and has had RECOVERY seconds)."""
                    await scenario.killed.wait()
                    assert a.process is not None
                    assert await a.process.wait() == -signal.SIGKILL
                    at_kill = await outbox_rows(url)
                    telegram.faults.clear()  # holds armed for the kill are no longer wanted
                    if restart:
                        hold_armed.append(time.monotonic())
                        telegram.faults.add(
                            kind="timeout", method="sendMessage", delay=WAIT, release=released
                        )
                        await asyncio.sleep(RESTART_AFTER)
                        await a.start()
                        scenario.mark("A up again")
                        await asyncio.sleep(RECOVERY)
                        released.set()
                    return at_kill

                manager = asyncio.create_task(service_manager())
                await asyncio.gather(*(scenario.resident(i) for i in range(RESIDENTS)))
                await asyncio.gather(*scenario.operator_tasks)
                scenario.mark("residents done")
                assert scenario.killed.is_set(), "instance A was never killed"
                at_kill = await manager
                # Someone stuck waited PATIENCE already: a short last look then.
                deadline = time.monotonic() + (5.0 if scenario.stuck else PATIENCE)
                while time.monotonic() < deadline:
                    if await settled(url):
                        break
                    await asyncio.sleep(0.2)
                scenario.mark("settled")
                await asyncio.sleep(1.0)  # a late repeat would show now
        finally:
            telegram.faults.clear()
            released.set()
            codes = {"a": await a.stop(), "b": await b.stop()}
        seconds = time.monotonic() - started
        final = await outbox_rows(url)
        history = await query(
            url,
            "SELECT h.request_id, h.event, h.from_status, h.to_status, h.id,"
            " r.chat_id FROM request_history h JOIN requests r ON r.id = h.request_id"
            " ORDER BY h.request_id, h.id",
        )
        requests = await query(url, "SELECT id, chat_id, status FROM requests ORDER BY id")
        followups = await query(
            url, "SELECT id, request_id, outcome, rating FROM followups ORDER BY id"
        )
        processed = [row["key"] for row in await query(url, "SELECT key FROM processed_updates")]

    assert scenario.killed_at is not None
    killed_at = scenario.killed_at
    problems: list[str] = [f"stuck: {stuck}" for stuck in scenario.stuck]
    deliveries = scenario.deliveries
    resident_keys = {key for key, d in deliveries.items() if d.resident}

    # What may come twice: rows SENDING at the kill; a reply only if the killed instance took
    # its update (acknowledged it before the kill).
    def excused(row: Row) -> bool:
        if at_kill.get(row.key, None) is None or at_kill[row.key].status != "sending":
            return False
        if row.kind != "reply":
            return True
        ok = deliveries[row.key.removeprefix("reply:")].acknowledged
        return ok.upstream == a.url and ok.at <= killed_at

    # 1. Every message the fake got is one an outbox row recorded, or one repeat of a message
    #    of a row in flight at the kill (a text may come as often as rows sent it, plus once
    #    more for each excused row that sent it).
    repeats: Counter[str] = Counter()
    by_chat: dict[str, list[Row]] = defaultdict(list)
    for row in final.values():
        by_chat[row.chat].append(row)
    for chat, calls in scenario.chats.sent.items():
        rows = by_chat.get(str(chat), [])
        text_of = {str(call.result["message_id"]): call.text for call in calls}
        got = Counter(call.text for call in calls)
        expected: Counter[str | None] = Counter()
        senders: dict[str | None, list[Row]] = defaultdict(list)
        for row in rows:
            for sent in row.sent_ids:
                if sent not in text_of:
                    problems.append(f"{row.key}: message {sent} recorded as sent, never got")
                    continue
                expected[text_of[sent]] += 1
                senders[text_of[sent]].append(row)
        for text, count in got.items():
            extra = count - expected[text]
            if extra <= 0:
                continue
            unsent = sorted(row.key for row in rows if row.status != "sent")
            also = f" (or of the rows never marked sent: {unsent})" if unsent else ""
            if not senders[text]:
                problems.append(f"chat {chat}: {count} messages of no sent row{also}: {text!r}")
                continue
            allowed = [row for row in senders[text] if excused(row)]
            for row in allowed[:extra]:
                repeats[row.key] += 1
            if extra > len(allowed):
                keys = sorted({row.key for row in senders[text]})
                problems.append(
                    f"chat {chat}: {count} copies of a message of {keys} "
                    f"({len(allowed)} in flight at the kill){also}: {text!r}"
                )
                for row in senders[text]:
                    repeats[row.key] += 0 if row in allowed else 1
    # 2. Every resident update processed once and answered by one reply row, all sent.
    missing = sorted(resident_keys - set(processed))
    if missing:
        problems.append(f"updates never processed: {missing}")
    strange = sorted(set(processed) - set(deliveries))
    if strange:
        problems.append(f"processed keys never posted: {strange}")
    replies = {key for key, row in final.items() if row.kind == "reply"}
    if replies != {f"reply:{key}" for key in resident_keys}:
        problems.append(
            f"reply rows != one per resident update: missing "
            f"{sorted({f'reply:{k}' for k in resident_keys} - replies)}, extra "
            f"{sorted(replies - {f'reply:{k}' for k in resident_keys})}"
        )
    unsent = sorted(key for key, row in final.items() if row.status != "sent")
    if unsent:
        problems.append(f"outbox rows not sent: {unsent}")
    # 3. One request per resident, its number told to the resident.
    chats_with_requests = Counter(request["chat_id"] for request in requests)
    if sorted(chats_with_requests.elements()) != sorted(
        str(FIRST_RESIDENT + i) for i in range(RESIDENTS)
    ):
        problems.append(f"requests per resident: {dict(chats_with_requests)}")
    for request in requests:
        number = f"1520-{request['id']:06d}"
        told_number = scenario.numbers.get(int(request["chat_id"]))
        if told_number != number:
            problems.append(f"{number}: the resident was told {told_number}")
    # 4. The history: created, in_progress, done, each from the status before it; each status
    #    change delivered once (its row sent, its text once in the resident's chat).
    by_request: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in history:
        by_request[entry["request_id"]].append(entry)
    for request_id, entries in by_request.items():
        statuses = [e for e in entries if e["event"] in ("created", "status")]
        chain = [(e["from_status"], e["to_status"]) for e in statuses]
        if chain != [(None, "new"), ("new", "in_progress"), ("in_progress", "done")]:
            problems.append(f"request {request_id}: status history {chain}")
        for entry in statuses[1:]:
            status_row = final.get(f"req:{request_id}:status:{entry['id']}")
            if status_row is None:
                problems.append(f"request {request_id}: no status row for {entry['to_status']}")
                continue
            told = [
                call
                for call in scenario.chats.sent[int(entry["chat_id"])]
                if str(call.result["message_id"]) in status_row.sent_ids
            ]
            extra = repeats[status_row.key]
            if len(told) != 1 or (extra and not excused(status_row)):
                problems.append(f"{status_row.key}: delivered {len(told)} + {extra} times")
    # 5. One follow-up per request, asked once, answered yes with 5.
    asked = Counter(followup["request_id"] for followup in followups)
    if sorted(asked) != sorted(request["id"] for request in requests) or max(asked.values()) > 1:
        problems.append(f"follow-ups per request: {dict(asked)}")
    for followup in followups:
        answer = (followup["outcome"], followup["rating"])
        if answer != ("yes", 5):
            problems.append(f"follow-up {followup['id']}: answered {answer}")
        ask = final.get(f"fu:{followup['id']}:ask")
        questions = [
            call
            for chat_calls in scenario.chats.sent.values()
            for call in chat_calls
            if f"v1:fu:{followup['id']}:y" in call.button_data
        ]
        if ask is None or len(questions) != 1 + (repeats[ask.key] if excused(ask) else 0):
            problems.append(f"follow-up {followup['id']}: asked {len(questions)} times")
    # 6. One card per request in the staff chat.
    cards = Counter(
        found.group(1)
        for call in scenario.chats.sent[STAFF_CHAT]
        if (found := CARD_NUMBER.search(call.text or ""))
    )
    for number, count in cards.items():
        card = final.get(f"req:{int(number.split('-')[1])}:card:staff")
        if count != 1 and not (card is not None and excused(card) and count == 2):
            problems.append(f"{number}: {count} cards in the staff chat")
    # 7. The kill cut something off (else this run proved little), and only what was posted
    #    again was found as a duplicate.
    dropped = sorted(key for key, d in deliveries.items() if len(d.attempts) > 1)
    in_flight = sorted(key for key, row in at_kill.items() if row.status == "sending")
    if not dropped and not in_flight:
        problems.append("the kill cut nothing off: no post dropped, nothing SENDING")
    logs = a.text() + b.text()
    logged = DUPLICATE.findall(logs)
    if not set(logged) <= set(dropped):
        once = sorted(set(logged) - set(dropped))
        problems.append(f"duplicates found of updates posted once: {once}")
    if codes != {"a": 0 if restart else -signal.SIGKILL, "b": 0}:
        problems.append(f"exit codes after SIGTERM: {codes}")

    not_200 = Counter(
        attempt.status
        for d in deliveries.values()
        for attempt in d.attempts
        if attempt.status != 200
    )
    print(  # the report this test exists for
        f"\ntwo instances, A {'restarted' if restart else 'left dead'}: {RESIDENTS} residents, "
        f"{len(deliveries)} updates "
        f"({len(resident_keys)} residents', {len(deliveries) - len(resident_keys)} staff), "
        f"{seconds:.1f} s {scenario.timeline}; posts without a 200: {dict(not_200)}; "
        f"SENDING at the kill: {len(in_flight)} {in_flight}; repeated rows: "
        f"{dict(repeats)}; duplicate updates logged: {len(logged)}; "
        f"proxy (A, B): answered {proxy.counts}, refused {proxy.refused}, dropped {proxy.dropped}; "
        f"problems: {len(problems)}"
    )
    armed = hold_armed[0] if hold_armed else float("inf")
    held = [c.summary(160) for c in telegram.calls if c.fault == "timeout" and c.time >= armed]
    if held:
        print(f"  held in flight by B across A's restart: {held}")
    for problem in problems:
        print("  -", problem)
    assert problems == []
