"""KeyedLocks: one holder per key, in arrival order, and no key kept once nobody holds it."""

from __future__ import annotations

import asyncio

from domain.locks import KeyedLocks


async def test_one_key_is_serialized_in_order_and_forgotten_after() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    order: list[str] = []

    async def work(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(work("a", "1"), work("a", "2"), work("b", "3"))
    assert order.index("1-") < order.index("2+")  # same key: no overlap, first come first
    assert order.index("3+") < order.index("1-")  # another key runs alongside
    assert len(locks) == 0


async def test_a_failing_holder_releases_the_key() -> None:
    locks: KeyedLocks[int] = KeyedLocks()
    try:
        async with locks.hold(1):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with locks.hold(1):
        assert len(locks) == 1
    assert len(locks) == 0
