"""The sliding-window limiter: never over a limit in any window, counted until calls complete."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.identity import ChannelName, UserRef
from notifications.limits import ChatRateLimiter, RateLimits, SlidingWindow, is_group_chat

PRIVATE = UserRef(ChannelName.TELEGRAM, "42")
OTHER = UserRef(ChannelName.TELEGRAM, "43")
GROUP = UserRef(ChannelName.TELEGRAM, "-100777")
TOPIC = UserRef(ChannelName.TELEGRAM, "-100777/5")


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_admits_its_limit_then_waits_for_the_oldest_completion() -> None:
    window = SlidingWindow(3, 1.0)
    for at in (0.0, 0.1, 0.2):
        assert window.delay(at) == 0.0
        window.start()
        window.finish(at)
    assert window.delay(0.3) == pytest.approx(0.7)
    assert window.delay(1.0) == 0.0


def test_a_call_in_flight_holds_its_slot_until_one_period_after_it_completes() -> None:
    window = SlidingWindow(1, 1.0)
    window.start()
    assert window.delay(5.0) > 0  # still in flight: no slot whatever the time
    window.finish(5.0)
    assert window.delay(5.5) == pytest.approx(0.5)
    assert window.delay(6.0) == 0.0


def test_private_chats_groups_and_topics_have_their_own_limits() -> None:
    clock = FakeMonotonic()
    limiter = ChatRateLimiter(RateLimits(30, 1, 20), monotonic=clock)
    assert is_group_chat(GROUP)
    assert not is_group_chat(PRIVATE)

    async def burst() -> None:
        async with limiter.slot(PRIVATE):
            pass
        assert limiter.delay(PRIVATE) == pytest.approx(1.0)
        assert limiter.delay(OTHER) == 0.0  # another chat may go at once
        for sent in range(1, 21):
            assert limiter.delay(TOPIC) == 0.0
            async with limiter.slot(TOPIC):
                pass
            # A group chat too gets one a second (until the 20th, then the minute is full)...
            assert limiter.delay(GROUP) == pytest.approx(1.0 if sent < 20 else 41.0)
            clock.now += 1.0
        # ...and twenty a minute, shared with its forum topics.
        assert limiter.delay(GROUP) == pytest.approx(40.0)

    asyncio.run(burst())


def test_pauses_hold_one_chat_or_every_chat() -> None:
    clock = FakeMonotonic()
    limiter = ChatRateLimiter(monotonic=clock)
    limiter.pause(PRIVATE, 3)
    assert limiter.delay(PRIVATE) == pytest.approx(3.0)
    assert limiter.delay(OTHER) == 0.0
    limiter.pause_all(5)
    assert limiter.delay(OTHER) == pytest.approx(5.0)
    assert limiter.global_delay() == pytest.approx(5.0)
    clock.now += 5
    assert limiter.delay(PRIVATE) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=120),
    durations=st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=120, max_size=120),
)
def test_calls_that_start_only_when_allowed_never_exceed_the_window(
    gaps: list[float], durations: list[float]
) -> None:
    """Whatever the latencies, arrivals (anywhere between start and end of a call) never put
    more than the limit into any window: a slot is freed a period after the *end*."""
    window = SlidingWindow(5, 1.0)
    now = 0.0
    calls: list[tuple[float, float]] = []
    open_calls: list[float] = []  # end times of calls in flight
    for index, gap in enumerate(gaps):
        now += gap
        for end in sorted(e for e in open_calls if e <= now):
            window.finish(end)
            open_calls.remove(end)
        while window.delay(now) > 0:
            if open_calls and min(open_calls) <= now + window.delay(now):
                end = min(open_calls)
                now = max(now, end)
                window.finish(end)
                open_calls.remove(end)
            else:
                now += window.delay(now)
        window.start()
        end = now + durations[index]
        open_calls.append(end)
        calls.append((now, end))
    # The platform sees a call at its latest possible arrival for the earlier one and the
    # earliest for the later one: still never more than 5 in any second.
    for start, _ in calls:
        inside = [call for call in calls if start - 1.0 < call[1] and call[0] <= start]
        assert len(inside) <= 5
