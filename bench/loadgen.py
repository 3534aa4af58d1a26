"""The load generator: Telegram updates POSTed to a webhook, replies timed at the fake Bot API.

A reply's latency is the time from when its update was *due* (the schedule of a fixed-rate run,
so a generator that falls behind does not hide the wait: no coordinated omission) until the
first ``sendMessage`` to that chat reached the fake Bot API server (``FakeTelegramServer``
records every call with its arrival time on the same monotonic clock). Each update comes from
a user of its own, so the chat id names the update. The webhook's own 200 means nothing here:
aiogram answers it before handling the update.

Two shapes: ``fixed_rate`` (open loop: N updates a second whatever happens) and ``closed_loop``
(C residents, each writing again as soon as answered: the maximum throughput).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import percentile
from fakes.telegram_api import RecordedCall

__all__ = ["QUESTIONS", "LoadResult", "ReplyWatcher", "closed_loop", "fixed_rate", "text_update"]

# What residents write after a strike (Ukrainian and Russian, typos as typed).
QUESTIONS: tuple[str, ...] = (
    "Де найближче укриття?",
    "Як отримати довідку ВПО?",
    "Не горить вуличне освітлення на нашій вулиці",
    "Коли дадуть гарячу воду в Тернівському районі?",
    "Куди звернутися щодо гуманітарної допомоги для переселенців?",
    "Як подати заявку на компенсацію за пошкоджене житло?",
    "де можна отримати безкоштовні ліки",
    "Немає світла в будинку з ранку, що робити?",
    "Як стати на облік як внутрішньо переміщена особа",
    "Чи працює укриття в школі поруч",
    "Реклама світиться вночі під час тривоги, це ж порушення",
    "Як оформити субсидію на комунальні послуги",
    "Де отримати гуманітарку в Саксаганському районі",
    "Сміття не вивозять вже тиждень",
    "Як записатися до сімейного лікаря",
    "Чи є евакуаційні поїзди до Львова",
    "Де зареєструвати місце проживання",
    "Яма на дорозі біля зупинки, хто відремонтує?",
    "Холодні батареї в квартирі",
    "Як отримати виплату на проживання ВПО",
    "вибили вікна після обстрілу, куди звертатись",
    "допомога з житлом для переселенців",
    "Где ближайшее укрытие?",
    "Как получить справку переселенца?",
    "Не горят фонари на улице",
    "Когда включат горячую воду?",
    "Где получить гуманитарную помощь?",
    "Как подать заявку на компенсацию за разрушенное жилье",
    "Нет воды в доме со вчерашнего дня",
    "как оформить субсидию",
    "где бесплатные лекарства для пенсионеров",
    "Не вывозят мусор",
)

_update_ids = itertools.count(1)


def text_update(user_id: int, text: str, *, update_id: int | None = None) -> dict[str, Any]:
    """A private text message from ``user_id``, shaped as the Bot API sends it."""
    user = {"id": user_id, "is_bot": False, "first_name": "Мешканка", "language_code": "uk"}
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Мешканка"},
            "from": user,
            "text": text,
        },
    }


class ReplyWatcher:
    """Fed by ``FakeTelegramServer.on_call``: the arrival time of the first message to each
    chat, and a future per chat for whoever waits for it."""

    def __init__(self) -> None:
        self.first_reply: dict[int, float] = {}
        self._waiting: dict[int, asyncio.Future[float]] = {}

    def on_call(self, call: RecordedCall) -> None:
        chat_id, arrived = call.chat_id, call.time
        if call.method != "sendMessage" or not call.ok or not isinstance(chat_id, int):
            return
        if chat_id in self.first_reply:
            return
        self.first_reply[chat_id] = arrived
        waiter = self._waiting.pop(chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(arrived)

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if chat_id in self.first_reply:
            future.set_result(self.first_reply[chat_id])
        else:
            self._waiting[chat_id] = future
        return future


@dataclass
class LoadResult:
    """What one run measured: updates offered and answered, latencies (s), the elapsed time."""

    offered: int = 0
    answered: int = 0
    rejected: int = 0  # the webhook answered something other than 200
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def throughput(self) -> float:
        """Answered updates a second over the run."""
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0

    def ms(self, fraction: float) -> float | None:
        value = percentile(self.latencies, fraction)
        return None if value is None else value * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "rejected": self.rejected,
            "elapsed_s": round(self.elapsed, 3),
            "updates_per_s": round(self.throughput, 1),
            "p50_ms": _round(self.ms(0.50)),
            "p90_ms": _round(self.ms(0.90)),
            "p99_ms": _round(self.ms(0.99)),
            "max_ms": _round(self.ms(1.0)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Poster:
    """POSTs updates to one webhook URL with the secret header over kept-alive connections."""

    def __init__(self, url: str, secret: str, *, connections: int = 256) -> None:
        self.url = url
        self.headers = {
            "X-Telegram-Bot-Api-Secret-Token": secret,
            "Content-Type": "application/json",
        }
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def post(self, update: dict[str, Any]) -> int:
        try:
            async with self.session.post(
                self.url, data=json.dumps(update), headers=self.headers
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def close(self) -> None:
        await self.session.close()


def _users(first: int) -> Iterator[int]:
    return itertools.count(first)


async def fixed_rate(
    poster: Poster,
    watcher: ReplyWatcher,
    *,
    rate: float,
    duration: float,
    first_user: int,
    settle: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> LoadResult:
    """Offer ``rate`` updates a second for ``duration`` seconds; wait up to ``settle`` seconds
    for the last answers (a bot that cannot keep up answers late: the backlog must be gone
    before the next run, and the late answers are what the residents would wait)."""
    result = LoadResult()
    count = int(rate * duration)
    users = _users(first_user)
    start = clock() + 0.05
    due: dict[int, float] = {}
    tasks: list[asyncio.Task[int]] = []
    for index in range(count):
        at = start + index / rate
        delay = at - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        user = next(users)
        due[user] = at
        update = text_update(user, QUESTIONS[index % len(QUESTIONS)])
        tasks.append(asyncio.create_task(poster.post(update)))
    result.offered = count
    statuses = await asyncio.gather(*tasks)
    result.rejected = sum(1 for status in statuses if status != 200)
    await asyncio.wait([watcher.expect(user) for user in due], timeout=settle)
    answered = [(user, watcher.first_reply[user]) for user in due if user in watcher.first_reply]
    result.answered = len(answered)
    result.latencies = [arrived - due[user] for user, arrived in answered]
    last = max((arrived for _, arrived in answered), default=start)
    result.elapsed = max(last, start + duration) - start
    return result


async def closed_loop(
    poster: Poster,
    watcher: ReplyWatcher,
    *,
    concurrency: int,
    duration: float,
    first_user: int,
    reply_timeout: float = 15.0,
    clock: Callable[[], float] = time.monotonic,
) -> LoadResult:
    """``concurrency`` residents each send an update and wait for its answer, again and again,
    for ``duration`` seconds: the updates a second the bot sustains."""
    result = LoadResult()
    users = _users(first_user)
    start = clock()
    stop_at = start + duration
    counter = itertools.count()

    async def resident() -> None:
        while clock() < stop_at:
            user = next(users)
            index = next(counter)
            sent = clock()
            waiter = watcher.expect(user)
            result.offered += 1
            status = await poster.post(text_update(user, QUESTIONS[index % len(QUESTIONS)]))
            if status != 200:
                result.rejected += 1
                waiter.cancel()
                continue
            try:
                arrived = await asyncio.wait_for(waiter, reply_timeout)
            except TimeoutError:
                continue
            result.answered += 1
            result.latencies.append(arrived - sent)

    await asyncio.gather(*(resident() for _ in range(concurrency)))
    result.elapsed = clock() - start
    return result
