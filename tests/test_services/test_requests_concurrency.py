"""Two instances on one PostgreSQL database change the same request at once: the status rules
hold, because the service locks the request it changes (``RequestStore.lock``).

Two ``PostgresStorage`` objects on one schema are two processes as far as the database can
tell: each has its own pool, and a transaction of one is not serialized with the other's."""

from __future__ import annotations

import asyncio

import pytest

from domain.clock import ManualClock
from domain.requests import Actor, EventKind, InvalidTransition, Status
from services.requests import RequestService
from storage.postgres import PostgresStorage
from tests.postgres import postgres_instances
from tests.test_services.helpers import ALICE, WATER, make_service, resident

OPERATOR_A = Actor.operator("501", "Олена")
OPERATOR_B = Actor.operator("502", "Ігор")


async def _done_twice(
    first: PostgresStorage, second: PostgresStorage, service: RequestService, request_id: int
) -> tuple[BaseException | None, BaseException | None]:
    """The first instance marks the request done and holds its transaction open while the
    second tries the same; the first commits only once the second is waiting on it."""
    held = asyncio.Event()

    async def first_operator() -> None:
        async with first.transaction() as session:
            await service.change_status(session, request_id, Status.DONE, OPERATOR_A)
            held.set()
            await asyncio.sleep(0.5)  # the second is blocked on the row meanwhile

    async def second_operator() -> None:
        await held.wait()
        async with second.transaction() as session:
            await service.change_status(session, request_id, Status.DONE, OPERATOR_B)

    results = await asyncio.gather(first_operator(), second_operator(), return_exceptions=True)
    a, b = results
    return (a if isinstance(a, BaseException) else None), (
        b if isinstance(b, BaseException) else None
    )


@pytest.mark.timeout(60)
async def test_two_instances_pressing_done_at_once_record_it_once(clock: ManualClock) -> None:
    async with postgres_instances() as (first, second):
        service = make_service(clock)
        alice = await resident(first, ALICE, clock)
        async with first.transaction() as session:
            request = await service.create(session, alice, WATER)
            await service.change_status(session, request.id, Status.IN_PROGRESS, OPERATOR_A)

        first_error, second_error = await _done_twice(first, second, service, request.id)

        assert first_error is None
        # The second read the request after the first committed: done -> done is refused.
        assert isinstance(second_error, InvalidTransition)
        async with second.transaction() as session:
            history = await session.requests.history(request.id)
            stored = await session.requests.get(request.id)
        done = [c for c in history if c.event is EventKind.STATUS and c.to_status is Status.DONE]
        assert [c.actor.id for c in done] == ["501"]
        assert stored is not None
        assert stored.status is Status.DONE
