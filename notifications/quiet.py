"""Quiet hours: when non-urgent messages wait (``QUIET_HOURS``, local time of ``TIMEZONE``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["QuietHours", "local_moment"]


def local_moment(day: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The instant the wall clock in ``tz`` shows ``at`` on ``day``'s local date (UTC-aware).

    DST-safe by zoneinfo's rules (PEP 495, ``fold=0``): a wall time skipped by the spring jump
    is shifted forward by the gap (03:30 on a 03:00->04:00 night is 04:30), as java.time does;
    a wall time repeated in autumn means its first occurrence.
    """
    local_day = day.astimezone(tz).date()
    return datetime.combine(local_day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window such as 22:00-08:00 (may wrap midnight) in the city's time zone."""

    start: time
    end: time
    tz: ZoneInfo

    def is_quiet(self, now: datetime) -> bool:
        local = now.astimezone(self.tz).time().replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_at(self, now: datetime) -> datetime | None:
        """When the current quiet period ends (UTC-aware), or None when it is not quiet now."""
        if not self.is_quiet(now):
            return None
        end_today = local_moment(now, self.end, self.tz)
        if end_today > now:
            return end_today
        # Past today's end means the window wrapped midnight: it ends on the next local day.
        # Step by calendar day in local time, not by 24 hours (a DST day has 23 or 25).
        next_day = datetime.combine(
            now.astimezone(self.tz).date() + timedelta(days=1), time(12), tzinfo=self.tz
        )
        return local_moment(next_day, self.end, self.tz)

    def next_allowed(self, now: datetime) -> datetime:
        """``now`` if a non-urgent message may go now, else the end of the quiet period."""
        return self.ends_at(now) or now
