"""Telegram's sending limits as sliding windows: in total, per private chat and per group chat.

Written by hand rather than with ``aiolimiter``: that library is a leaky bucket (it admits a
burst of ``max_rate`` and then leaks, so a strict "30 in any second" check can see up to twice
that), it counts a call when it *starts*, and it has one bucket per limiter and only a blocking
``acquire``. The worker needs three things it does not give: per-key windows (one per chat),
a non-blocking "how long until this chat may be sent to" so it can *skip to another chat*
instead of waiting, and windows that count a call until it *completes* — a request that leaves
at t=0 may reach the platform at t=0.05, so a slot is freed one period after the response,
which keeps the platform's own count (by arrival) within the limit whatever the latency.

Time here is the monotonic clock, not the injected wall clock: these limits are about real
seconds between HTTP calls, while the injected clock decides what is *due*.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from domain.identity import UserRef

__all__ = ["ChatRateLimiter", "RateLimits", "SlidingWindow", "is_group_chat"]

Monotonic = Callable[[], float]

# How long an idle per-chat window is kept before it is forgotten (memory stays bounded).
_FORGET_AFTER = 120.0
# While every slot is held by a call still in flight, look again after this long.
_BUSY_RECHECK = 0.005


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Configured limits (``RATE_LIMIT_*`` settings); defaults are Telegram's published ones."""

    total_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    group_window_seconds: float = 60.0  # "a minute"; tests shrink it to stay quick


def _window(rate: float, period: float) -> tuple[int, float]:
    """``rate`` calls per ``period`` as an integer count over a (possibly longer) window."""
    if rate <= 0:
        raise ValueError("a rate limit must be positive")
    count = max(1, math.floor(rate))
    return count, period * count / rate


class SlidingWindow:
    """At most ``limit`` calls in any ``period`` seconds, counting each until it completes.

    A call holds its slot from ``start()`` until one ``period`` after ``finish()``.
    """

    __slots__ = ("_ends", "_open", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a window needs a positive limit and period")
        self.limit = limit
        self.period = period
        self._ends: deque[float] = deque()
        self._open = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.period
        ends = self._ends
        while ends and ends[0] <= horizon:
            ends.popleft()

    def delay(self, now: float) -> float:
        """Seconds until one more call may start (0.0: now)."""
        self._expire(now)
        taken = self._open + len(self._ends)
        if taken < self.limit:
            return 0.0
        # The oldest completed calls free their slots first; calls in flight free none yet.
        needed = taken - self.limit + 1
        if needed > len(self._ends):
            return _BUSY_RECHECK
        return max(self._ends[needed - 1] + self.period - now, 0.0) or _BUSY_RECHECK

    def start(self) -> None:
        self._open += 1

    def finish(self, now: float) -> None:
        self._open -= 1
        ends = self._ends
        # Completions are almost always in order; keep the deque sorted when they are not.
        if not ends or ends[-1] <= now:
            ends.append(now)
        else:
            ends.append(now)
            self._ends = deque(sorted(ends))

    def add_past(self, end: float) -> None:
        """A call that completed at ``end`` before this window existed (a previous process)."""
        self._ends.append(end)
        self._ends = deque(sorted(self._ends))

    def idle(self, now: float) -> bool:
        self._expire(now)
        return self._open == 0 and not self._ends


def is_group_chat(chat: UserRef) -> bool:
    """Telegram group and channel ids are negative; private chats are positive user ids."""
    return chat.user_id.startswith("-")


class ChatRateLimiter:
    """Telegram's limits plus 429 pauses, keyed by chat: 30 a second in total, one a second per
    chat (groups included), and 20 a minute per group.

    ``delay(chat)`` never waits and never reserves: the worker uses it to pick a chat that may
    be sent to now. ``slot(chat)`` is what every API call goes through (the Telegram session
    middleware in ``bot/``): it waits for the slot, holds it during the call, and frees it one
    period after the response.
    """

    def __init__(self, limits: RateLimits | None = None, *, monotonic: Monotonic = time.monotonic):
        self.limits = limits or RateLimits()
        self._now = monotonic
        total, total_period = _window(self.limits.total_per_second, 1.0)
        self._total = SlidingWindow(total, total_period)
        self._chat_window = _window(self.limits.per_chat_per_second, 1.0)
        self._group_window = _window(
            self.limits.per_group_per_minute, self.limits.group_window_seconds
        )
        self._chats: dict[UserRef, tuple[SlidingWindow, ...]] = {}
        self._paused: dict[UserRef, float] = {}
        self._paused_all = 0.0
        self._last_prune = 0.0

    @staticmethod
    def _key(chat: UserRef) -> UserRef:
        # A forum topic ("-100123/45") shares its group's limits.
        if "/" not in chat.user_id:
            return chat
        return UserRef(chat.channel, chat.user_id.partition("/")[0])

    def _windows_for(self, chat: UserRef) -> tuple[SlidingWindow, ...]:
        windows = self._chats.get(chat)
        if windows is None:
            # Every chat: one a second; a group also: twenty a minute.
            windows = (SlidingWindow(*self._chat_window),)
            if is_group_chat(chat):
                windows += (SlidingWindow(*self._group_window),)
            self._chats[chat] = windows
        return windows

    def delay(self, chat: UserRef) -> float:
        """Seconds until a call to ``chat`` may start; 0.0 means now."""
        chat = self._key(chat)
        now = self._now()
        pause = max(self._paused_all, self._paused.get(chat, 0.0)) - now
        windows = self._chats.get(chat, ())
        chat_delay = max((window.delay(now) for window in windows), default=0.0)
        return max(pause, chat_delay, self._total.delay(now), 0.0)

    def global_delay(self) -> float:
        """Seconds until any call at all may start (the total window and a global pause)."""
        now = self._now()
        return max(self._paused_all - now, self._total.delay(now), 0.0)

    def pause(self, chat: UserRef, seconds: float) -> None:
        """A 429 for ``chat``: nothing goes to it for ``seconds``."""
        chat = self._key(chat)
        until = self._now() + max(seconds, 0.0)
        self._paused[chat] = max(self._paused.get(chat, 0.0), until)

    def pause_all(self, seconds: float) -> None:
        """A flood wait for the whole bot: nothing goes anywhere for ``seconds``."""
        self._paused_all = max(self._paused_all, self._now() + max(seconds, 0.0))

    def note_past(self, chat: UserRef, seconds_ago: float, calls: int = 1) -> None:
        """Count ``calls`` made to ``chat`` ``seconds_ago`` (by the process before a restart)."""
        end = self._now() - max(seconds_ago, 0.0)
        for window in (*self._windows_for(self._key(chat)), self._total):
            for _ in range(calls):
                window.add_past(end)

    @property
    def memory(self) -> float:
        """How far back sends matter (the longest window), in seconds."""
        return max(self._total.period, self._chat_window[1], self._group_window[1])

    @asynccontextmanager
    async def slot(self, chat: UserRef) -> AsyncIterator[None]:
        """Wait until a call to ``chat`` is allowed, then hold its slots for the call."""
        # Waiting for a moment in time (a slot that frees), not for an event to happen.
        while (wait := self.delay(chat)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        windows = (*self._windows_for(self._key(chat)), self._total)
        for window in windows:
            window.start()
        try:
            yield
        finally:
            now = self._now()
            for window in windows:
                window.finish(now)
            self._prune(now)

    def _prune(self, now: float) -> None:
        if now - self._last_prune < _FORGET_AFTER:
            return
        self._last_prune = now
        idle = [chat for chat, windows in self._chats.items() if all(w.idle(now) for w in windows)]
        for chat in idle:
            del self._chats[chat]
        for chat in [chat for chat, until in self._paused.items() if until <= now]:
            del self._paused[chat]
