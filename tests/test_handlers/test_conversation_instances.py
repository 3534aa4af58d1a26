"""Two instances on one PostgreSQL database handle the same resident at once: their messages
run one after the other (the resident's lock, ``StoreSession.lock_resident``), no state change
is lost, and one update delivered to both is handled once.

Two ``PostgresStorage`` objects on one schema are two processes as far as the database can
tell; each has its own ``Conversation``, so the in-process per-user lock does not help here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind, Reply
from domain.texts import Texts
from handlers.context import Context
from handlers.conversation import Conversation
from handlers.registry import Registry
from storage.postgres import PostgresStorage
from tests.postgres import postgres_instances
from tests.test_services.helpers import resident

ALICE = UserRef(ChannelName.TELEGRAM, "1001")


class Tally:
    """A feature that appends every text to the state, slowly for the texts it is told to:
    it reads the state, waits (another instance would run meanwhile), then writes it back."""

    def __init__(self, slow: set[str], entered: asyncio.Event) -> None:
        self.slow = slow
        self.entered = entered
        self.calls: list[str] = []

    def register(self, registry: Registry) -> None:
        registry.on_idle(Kind.TEXT, self.on_text)

    async def on_text(self, ctx: Context) -> list[Reply]:
        text = ctx.incoming.text or ""
        self.calls.append(text)
        said = list(ctx.state.data.get("said", []))
        if text in self.slow:
            self.entered.set()
            await asyncio.sleep(0.5)
        ctx.state.data["said"] = [*said, text]
        return [Reply(f"got {text}")]


@pytest.fixture
async def instances() -> AsyncIterator[tuple[PostgresStorage, PostgresStorage]]:
    async with postgres_instances() as both:
        yield both


def _conversation(storage: PostgresStorage, clock: ManualClock, feature: Tally) -> Conversation:
    return Conversation(storage=storage, clock=clock, texts=Texts.load(), features=[feature])


async def _said(storage: PostgresStorage) -> list[str]:
    async with storage.transaction() as session:
        resident = await session.residents.get(ALICE)
        assert resident is not None
        state = await session.conversations.load(resident.id)
    return list(state.data.get("said", []))


@pytest.mark.timeout(60)
async def test_two_messages_of_one_resident_on_two_instances_keep_order_and_state(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    first, second = instances
    await resident(first, ALICE, clock)  # a returning resident: their row exists
    entered = asyncio.Event()
    one, two = Tally({"first"}, entered), Tally(set(), entered)
    a, b = _conversation(first, clock, one), _conversation(second, clock, two)

    async def later() -> list[Reply]:
        await entered.wait()  # the first message is inside its transaction now
        return await b.handle(Incoming(ALICE, Kind.TEXT, text="second", update_key="t:2"))

    replies_a, replies_b = await asyncio.gather(
        a.handle(Incoming(ALICE, Kind.TEXT, text="first", update_key="t:1")), later()
    )

    assert [r.text for r in replies_a] == ["got first"]
    assert [r.text for r in replies_b] == ["got second"]
    # Without any lock the second reads the state before the first wrote it, and the first's
    # save then overwrites the second's: ["first"] only. (Today ``residents.touch``, an upsert,
    # also row-locks the resident; the resident's lock holds without relying on that.)
    assert await _said(first) == ["first", "second"]


@pytest.mark.timeout(60)
async def test_one_update_delivered_to_two_instances_is_handled_once(
    instances: tuple[PostgresStorage, PostgresStorage], clock: ManualClock
) -> None:
    first, second = instances
    entered = asyncio.Event()
    one, two = Tally({"hello"}, entered), Tally({"hello"}, entered)
    a, b = _conversation(first, clock, one), _conversation(second, clock, two)
    update = Incoming(ALICE, Kind.TEXT, text="hello", update_key="telegram:42")

    async def redelivered() -> list[Reply]:
        await entered.wait()
        return await b.handle(update)

    replies_a, replies_b = await asyncio.gather(a.handle(update), redelivered())

    assert [r.text for r in replies_a] == ["got hello"]
    assert replies_b == []
    assert one.calls == ["hello"]
    assert two.calls == []
    assert await _said(first) == ["hello"]
