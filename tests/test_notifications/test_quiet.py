"""Quiet hours in city time, across midnight and across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from notifications.quiet import QuietHours, local_moment

KYIV = ZoneInfo("Europe/Kyiv")
NIGHT = QuietHours(time(22), time(8), KYIV)


def kyiv(*args: int) -> datetime:
    return datetime(*args, tzinfo=KYIV).astimezone(UTC)  # type: ignore[arg-type, misc]  # year, month, day... as ints


def test_the_window_wraps_midnight() -> None:
    assert NIGHT.is_quiet(kyiv(2026, 11, 25, 22, 0))
    assert NIGHT.is_quiet(kyiv(2026, 11, 26, 7, 59))
    assert not NIGHT.is_quiet(kyiv(2026, 11, 26, 8, 0))
    assert not NIGHT.is_quiet(kyiv(2026, 11, 25, 21, 59))
    assert NIGHT.next_allowed(kyiv(2026, 11, 25, 12, 0)) == kyiv(2026, 11, 25, 12, 0)


def test_the_end_is_the_next_local_morning_before_and_after_midnight() -> None:
    assert NIGHT.ends_at(kyiv(2026, 11, 25, 23, 0)) == kyiv(2026, 11, 26, 8, 0)
    assert NIGHT.ends_at(kyiv(2026, 11, 26, 3, 0)) == kyiv(2026, 11, 26, 8, 0)


def test_spring_forward_night_ends_at_local_eight_not_an_hour_off() -> None:
    # 29 March 2026: 03:00 EET becomes 04:00 EEST; the night is 9 hours of wall time but 8 real.
    end = NIGHT.ends_at(kyiv(2026, 3, 28, 23, 0))
    assert end is not None
    assert end.astimezone(KYIV).hour == 8
    assert end == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)


def test_fall_back_night_ends_at_local_eight() -> None:
    # 25 October 2026: 04:00 EEST becomes 03:00 EET.
    end = NIGHT.ends_at(kyiv(2026, 10, 24, 23, 0))
    assert end is not None
    assert end == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)


def test_a_skipped_wall_time_is_shifted_forward_by_the_gap() -> None:
    moment = local_moment(datetime(2026, 3, 29, 12, tzinfo=UTC), time(3, 30), KYIV)
    assert moment.astimezone(KYIV).strftime("%H:%M") == "04:30"
    short = QuietHours(time(2, 30), time(3, 30), KYIV)
    assert short.ends_at(kyiv(2026, 3, 29, 2, 45)) == moment
