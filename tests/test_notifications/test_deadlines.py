"""Missed deadlines: the executor's chat is reminded and the staff chat told, once per deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Actor, Status
from notifications.scheduler import NotificationJobs
from services.deadlines import DeadlineWatch
from services.requests import RequestService
from services.routing import DEFAULT_ROUTING_FILE, Routing, parse_routing
from storage.base import Storage
from tests.test_notifications.helpers import (
    ALICE,
    STAFF,
    file_request,
    messages,
    replies,
    set_status,
    texts,
)

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

EXECUTOR_CHAT = UserRef(ChannelName.TELEGRAM, "-100900")


def routing_with_executor_chats() -> Routing:
    data = yaml.safe_load(DEFAULT_ROUTING_FILE.read_text(encoding="utf-8"))
    for executor in data["executors"].values():
        executor["telegram_chat_id"] = int(EXECUTOR_CHAT.user_id)
    return parse_routing(yaml.safe_dump(data, allow_unicode=True))


def jobs(storage: Storage, clock: ManualClock, routing: Routing) -> NotificationJobs:
    watch = DeadlineWatch(routing, texts(), clock, staff_chat=STAFF)
    return NotificationJobs(storage, deadlines=watch)


async def escalations(storage: Storage) -> list[tuple[str, str, bool]]:
    return [
        (m.idempotency_key.split(":")[2], m.chat.user_id, m.urgent)
        for m in await messages(storage)
        if m.idempotency_key.startswith("dl:")
    ]


async def test_each_missed_deadline_is_escalated_once_to_staff_and_the_executor(
    storage: Storage, clock: ManualClock
) -> None:
    routing = routing_with_executor_chats()
    service = RequestService(routing, texts(), clock, STAFF)
    tick = jobs(storage, clock, routing).deadlines_tick
    request = await file_request(storage, service, ALICE, clock)
    ack = request.ack_due - request.created_at
    clock.advance(ack - timedelta(seconds=1))
    assert await tick() == 0
    clock.advance(timedelta(seconds=1))
    assert await tick() == 1
    assert await tick() == 0  # idempotent: a second run finds nothing new
    assert await escalations(storage) == [
        ("ack", STAFF.user_id, True),
        ("ack", EXECUTOR_CHAT.user_id, True),
    ]
    staff = next(
        m
        for m in await messages(storage)
        if m.idempotency_key.startswith("dl:") and m.idempotency_key.endswith(":staff")
    )
    [reply] = replies(staff)
    assert request.number in (reply.title or "")
    assert "прийняття" in reply.text
    assert reply.all_buttons  # staff can act on it at once

    # Accepted late: no more acknowledge escalations; the resolve deadline is its own.
    await set_status(storage, service, request.id, Status.ACCEPTED)
    clock.set(request.resolve_due + timedelta(minutes=1))
    assert await tick() == 1
    assert await tick() == 0
    assert [kind for kind, _, _ in await escalations(storage)] == [
        "ack",
        "ack",
        "resolve",
        "resolve",
    ]


async def test_a_reopened_request_is_escalated_again_for_its_new_deadline_but_not_when_done(
    storage: Storage, clock: ManualClock
) -> None:
    routing = routing_with_executor_chats()
    service = RequestService(routing, texts(), clock, None)
    watch = DeadlineWatch(routing, texts(), clock, staff_chat=None)
    tick = NotificationJobs(storage, deadlines=watch).deadlines_tick
    request = await file_request(storage, service, ALICE, clock)
    await set_status(storage, service, request.id, Status.DONE)
    clock.set(request.resolve_due + timedelta(hours=1))
    assert await tick() == 0  # done: nothing is overdue
    async with storage.transaction() as session:
        reopened = await service.reopen(session, request.id, Actor.system("test"), "Не виконано")
    assert await tick() == 0  # fresh deadlines, not missed yet
    clock.set(reopened.ack_due + timedelta(minutes=1))
    assert await tick() == 1  # the new acknowledge deadline is a new escalation
    assert [key for key, _, _ in await escalations(storage)] == ["ack"]
    clock.advance(timedelta(days=60))
    # More than a week late: left to the digest's overdue count, not escalated one by one.
    assert await tick() == 0
