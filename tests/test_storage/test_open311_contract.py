"""Contract tests of ``Open311Store``: written against the interface, run once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Actor, Category, EventKind, Status
from storage.base import Storage, StoreSession
from storage.open311 import ApiScope, AuditEntry, KeyNameTaken, PostedUpdate, RequestQuery
from storage.requests import NewRequest, NewStatusChange
from storage.sqlite import SqliteStorage
from tests.postgres import BACKENDS, postgres_storage

USER = UserRef(ChannelName.TELEGRAM, "1")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "postgres":
        async with postgres_storage() as server:
            yield server
        return
    backend = await SqliteStorage.open(tmp_path / "open311-contract.sqlite3")
    try:
        yield backend
    finally:
        await backend.close()


async def add_request(
    session: StoreSession, clock: ManualClock, category: Category, status: Status = Status.NEW
) -> int:
    resident = await session.residents.touch(USER, now=clock.now())
    now = clock.now()
    request = await session.requests.create(
        NewRequest(
            resident_id=resident.id,
            resident=USER,
            category=category,
            description="d",
            executor_id="contact_center",
            service_class="standard",
            urgent=False,
            ack_due=now + timedelta(hours=1),
            resolve_due=now + timedelta(days=1),
            created_at=now,
            status=status,
        )
    )
    return request.id


async def test_keys_are_found_by_hash_listed_and_revoked(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        key = await session.open311.create_key("fms", ApiScope.WRITE, "h1", now=clock.now())
        with pytest.raises(KeyNameTaken):
            await session.open311.create_key("fms", ApiScope.READ, "h2", now=clock.now())
    async with store.transaction() as session:
        found = await session.open311.key_by_hash("h1")
        assert found == key
        assert found is not None
        assert found.active
        assert await session.open311.key_by_hash("h2") is None
        assert await session.open311.revoke_key("fms", now=clock.now())
        assert not await session.open311.revoke_key("fms", now=clock.now())
        revoked = await session.open311.key_by_hash("h1")
        assert revoked is not None
        assert not revoked.active
        # The name is free again once revoked.
        await session.open311.create_key("fms", ApiScope.READ, "h3", now=clock.now())
        names = [(k.name, k.scope, k.active) for k in await session.open311.list_keys()]
    assert names == [("fms", ApiScope.WRITE, False), ("fms", ApiScope.READ, True)]


async def test_the_audit_log_keeps_every_write_newest_first(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        for status in (200, 400):
            await session.open311.record_write(
                AuditEntry("fms", clock.now(), "POST", "/open311/v2/requests.json", status, "s")
            )
            clock.advance(1)
        log = await session.open311.audit_log()
    assert [entry.status for entry in log] == [400, 200]
    assert log[0].at > log[1].at


async def test_a_posted_update_is_remembered_once(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        request_id = await add_request(session, clock, Category.WATER)
        change = await session.requests.add_history(
            NewStatusChange(
                request_id, EventKind.STATUS, Actor.back_office("fms"), clock.now(),
                Status.NEW, Status.IN_PROGRESS,
            )
        )  # fmt: skip
        posted = PostedUpdate("u-1", request_id, change.id, "fms", clock.now())
        assert await session.open311.remember_update(posted)
        assert not await session.open311.remember_update(posted)
        assert await session.open311.posted_update("u-1") == posted
        assert await session.open311.posted_update("u-2") is None
        [record] = await session.open311.status_updates(
            start=clock.now() - timedelta(seconds=1), end=clock.now() + timedelta(seconds=1),
            limit=10,
        )  # fmt: skip
    assert record.change == change
    assert record.change.actor == Actor.back_office("fms")
    assert record.posted_update_id == "u-1"


async def test_requests_with_a_photo(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        first = await add_request(session, clock, Category.WATER)
        second = await add_request(session, clock, Category.WASTE)
        await session.requests.add_photos(first, ["media:a.jpg", "file-id"])
        await session.requests.add_photos(second, ["media:a.jpg"])
        assert await session.open311.requests_with_photo("media:a.jpg") == [first, second]
        assert await session.open311.requests_with_photo("file-id") == [first]
        assert await session.open311.requests_with_photo("media:b.jpg") == []


async def test_request_ids_filter_and_page(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        water = await add_request(session, clock, Category.WATER)
        clock.advance(timedelta(days=1))
        waste = await add_request(session, clock, Category.WASTE, Status.DONE)
        ids = session.open311.request_ids
        assert await ids(RequestQuery()) == [waste, water]
        assert await ids(RequestQuery(ids=[water, 999])) == [water]
        assert await ids(RequestQuery(ids=[])) == []
        assert await ids(RequestQuery(categories=[Category.WASTE])) == [waste]
        assert await ids(RequestQuery(statuses=[Status.NEW])) == [water]
        assert await ids(RequestQuery(created_from=clock.now())) == [waste]
        assert await ids(RequestQuery(created_until=clock.now())) == [water]
        assert await ids(RequestQuery(limit=1)) == [waste]
        assert await ids(RequestQuery(limit=1, offset=1)) == [water]
