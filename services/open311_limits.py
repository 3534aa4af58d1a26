"""The per-key rate limit of the Open311 API: a token bucket per key, in this process.

Per instance on purpose (issue 14): the limit protects each process from one runaway client,
and the database enforces nothing that depends on it. With N instances behind a balancer a
key may make up to N times ``per_minute`` calls in total; divide the configured rate by the
number of instances when a deployment-wide limit matters."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["KeyRateLimiter"]


class KeyRateLimiter:
    """``per_minute`` calls per key, in bursts of up to ``burst`` (default: a tenth of a
    minute's worth, at least 5). ``take(key)`` spends one call or says how long to wait."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.burst = burst if burst is not None else max(5.0, per_minute / 10.0)
        self._now = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when the call may go now (and it is counted), else the seconds to wait."""
        now = self._now()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate
