"""Contract tests of ``RequestStore``: written against the interface, run once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Actor, Category, District, EventKind, Status
from storage.base import Storage, StoreSession
from storage.postgres.text import NUL_REPLACEMENT
from storage.requests import NewRequest, NewStatusChange
from storage.sqlite import SqliteStorage
from tests.postgres import BACKENDS, postgres_storage


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "postgres":
        async with postgres_storage() as server:
            yield server
        return
    backend = await SqliteStorage.open(tmp_path / "requests-contract.sqlite3")
    try:
        yield backend
    finally:
        await backend.close()


ALICE = UserRef(ChannelName.TELEGRAM, "1")
BOB = UserRef(ChannelName.VIBER, "bob")


async def resident_id(session: StoreSession, user: UserRef, clock: ManualClock) -> int:
    return (await session.residents.touch(user, now=clock.now())).id


def new_request(rid: int, user: UserRef, clock: ManualClock, **changes: object) -> NewRequest:
    now = clock.now()
    values: dict[str, object] = {
        "resident_id": rid,
        "resident": user,
        "category": Category.WATER,
        "description": "Немає води з ранку",
        "executor_id": "city_water",
        "service_class": "urgent",
        "urgent": True,
        "ack_due": now + timedelta(hours=2),
        "resolve_due": now + timedelta(hours=24),
        "created_at": now,
        "district": District.TERNIVSKYI,
        "address": "вул. Перша, 1",
        "latitude": 47.9,
        "longitude": 33.4,
        "photos": ("file-a", "file-b"),
        "phone": "+380671234567",
    }
    values.update(changes)
    return NewRequest(**values)  # type: ignore[arg-type]


async def test_create_and_read_back_every_field(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        rid = await resident_id(session, ALICE, clock)
        created = await session.requests.create(new_request(rid, ALICE, clock))
    async with store.transaction() as session:
        found = await session.requests.get(created.id)
    assert found == created
    assert found.number == f"1520-{created.id:06d}"
    assert found.resident == ALICE
    assert found.photos == ("file-a", "file-b")
    assert found.district is District.TERNIVSKYI
    assert found.status is Status.NEW
    assert found.created_at == clock.now()
    assert found.created_at.tzinfo is not None
    assert found.ack_due - found.created_at == timedelta(hours=2)
    assert (found.acknowledged_at, found.done_at) == (None, None)


async def test_optional_fields_may_be_empty(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        rid = await resident_id(session, ALICE, clock)
        created = await session.requests.create(
            new_request(
                rid,
                ALICE,
                clock,
                district=None,
                address=None,
                latitude=None,
                longitude=None,
                photos=(),
                phone=None,
            )
        )
    assert (created.district, created.address, created.phone, created.photos) == (
        None,
        None,
        None,
        (),
    )
    assert not created.has_location


async def test_ids_grow_and_numbers_are_never_reused(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        rid = await resident_id(session, ALICE, clock)
        first = await session.requests.create(new_request(rid, ALICE, clock))
    with pytest.raises(RuntimeError):
        async with store.transaction() as session:
            await session.requests.create(new_request(rid, ALICE, clock))
            raise RuntimeError("rolled back")
    async with store.transaction() as session:
        second = await session.requests.create(new_request(rid, ALICE, clock))
    assert second.id > first.id


async def test_a_resident_sees_only_their_own(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        bob = await resident_id(session, BOB, clock)
        mine = await session.requests.create(new_request(alice, ALICE, clock))
        theirs = await session.requests.create(new_request(bob, BOB, clock))
    async with store.transaction() as session:
        assert await session.requests.get_for_resident(alice, mine.id) == mine
        assert await session.requests.get_for_resident(alice, theirs.id) is None
        assert await session.requests.get_for_resident(bob, mine.id) is None
        assert [r.id for r in await session.requests.list_for_resident(alice)] == [mine.id]


async def test_list_is_newest_first_limited_and_filtered(
    store: Storage, clock: ManualClock
) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        ids = []
        for _ in range(5):
            ids.append((await session.requests.create(new_request(alice, ALICE, clock))).id)
            clock.advance(60)
        third = await session.requests.get(ids[2])
        assert third is not None
        await session.requests.update(replace(third, status=Status.NEEDS_INFO))
    async with store.transaction() as session:
        listed = await session.requests.list_for_resident(alice, limit=3)
        waiting = await session.requests.list_for_resident(alice, statuses={Status.NEEDS_INFO})
        none = await session.requests.list_for_resident(alice, statuses=set())
    assert [r.id for r in listed] == ids[::-1][:3]
    assert [r.id for r in waiting] == [ids[2]]
    assert none == []


async def test_find_by_phone(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        a = await session.requests.create(new_request(alice, ALICE, clock))
        b = await session.requests.create(new_request(alice, ALICE, clock, phone="+380501112233"))
        found = await session.requests.find_by_phone("+380671234567")
        other = await session.requests.find_by_phone("+380501112233")
        nobody = await session.requests.find_by_phone("+380000000000")
    assert [r.id for r in found] == [a.id]
    assert [r.id for r in other] == [b.id]
    assert nobody == []


async def test_update_writes_the_mutable_fields(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        created = await session.requests.create(new_request(alice, ALICE, clock))
        clock.advance(3600)
        changed = replace(
            created,
            status=Status.DONE,
            executor_id="contact_center",
            service_class="standard",
            urgent=False,
            ack_due=clock.now(),
            resolve_due=clock.now() + timedelta(days=1),
            updated_at=clock.now(),
            acknowledged_at=clock.now(),
            done_at=clock.now(),
        )
        await session.requests.update(changed)
    async with store.transaction() as session:
        assert await session.requests.get(created.id) == changed


async def test_photos_are_appended_in_order(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        created = await session.requests.create(new_request(alice, ALICE, clock))
        await session.requests.add_photos(created.id, ["file-c"])
        await session.requests.add_photos(created.id, [])
        found = await session.requests.get(created.id)
    assert found is not None
    assert found.photos == ("file-a", "file-b", "file-c")


async def test_history_round_trips_in_order(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        created = await session.requests.create(new_request(alice, ALICE, clock))
        first = await session.requests.add_history(
            NewStatusChange(
                created.id, EventKind.CREATED, Actor.resident(alice), clock.now(), None, Status.NEW
            )
        )
        clock.advance(60)
        second = await session.requests.add_history(
            NewStatusChange(
                created.id,
                EventKind.STATUS,
                Actor.operator(42, "Олена"),
                clock.now(),
                Status.NEW,
                Status.NEEDS_INFO,
                "Який під'їзд?",
            )
        )
    async with store.transaction() as session:
        history = await session.requests.history(created.id)
        other = await session.requests.history(created.id + 1000)
    assert history == [first, second]
    assert history[1].actor.name == "Олена"
    assert history[1].note == "Який під'їзд?"
    assert history[0].from_status is None
    assert second.id > first.id
    assert other == []


async def test_overdue_queries(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        waiting = await session.requests.create(new_request(alice, ALICE, clock))
        taken = await session.requests.create(new_request(alice, ALICE, clock))
        closed = await session.requests.create(new_request(alice, ALICE, clock))
        later = await session.requests.create(
            new_request(
                alice,
                ALICE,
                clock,
                ack_due=clock.now() + timedelta(days=5),
                resolve_due=clock.now() + timedelta(days=6),
            )
        )
        await session.requests.update(replace(taken, status=Status.IN_PROGRESS))
        await session.requests.update(replace(closed, status=Status.DONE, done_at=clock.now()))
    async with store.transaction() as session:
        before = await session.requests.overdue_acknowledgement(now=clock.now())
        ack = await session.requests.overdue_acknowledgement(now=clock.now() + timedelta(hours=3))
        resolve = await session.requests.overdue_resolution(now=clock.now() + timedelta(hours=25))
    assert before == []
    assert [r.id for r in ack] == [waiting.id]
    assert [r.id for r in resolve] == [waiting.id, taken.id]
    assert later.id not in {r.id for r in resolve}


async def test_by_status_pages_by_id(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        ids = [
            (await session.requests.create(new_request(alice, ALICE, clock))).id for _ in range(4)
        ]
        page1 = await session.requests.by_status({Status.NEW}, limit=2)
        page2 = await session.requests.by_status({Status.NEW}, limit=2, after_id=page1[-1].id)
        nothing = await session.requests.by_status({Status.DONE})
    assert [r.id for r in page1 + page2] == ids
    assert nothing == []


async def test_time_windows_and_counts(store: Storage, clock: ManualClock) -> None:
    start = clock.now()
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        a = await session.requests.create(new_request(alice, ALICE, clock))
        clock.advance(timedelta(hours=1))
        b = await session.requests.create(new_request(alice, ALICE, clock))
        await session.requests.update(replace(b, status=Status.DONE, done_at=clock.now()))
        created = await session.requests.created_between(start, start + timedelta(minutes=30))
        done = await session.requests.done_between(start, clock.now() + timedelta(seconds=1))
        counts = await session.requests.count_by_status()
    assert [r.id for r in created] == [a.id]
    assert [r.id for r in done] == [b.id]
    assert counts[Status.NEW] == 1
    assert counts[Status.DONE] == 1
    assert counts[Status.REJECTED] == 0
    assert set(counts) == set(Status)


async def test_erasing_personal_data_keeps_statistics(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        bob = await resident_id(session, BOB, clock)
        mine = await session.requests.create(new_request(alice, ALICE, clock))
        theirs = await session.requests.create(new_request(bob, BOB, clock))
        assert await session.requests.erase_personal_data(alice, now=clock.now()) == 1
    async with store.transaction() as session:
        erased = await session.requests.get(mine.id)
        kept = await session.requests.get(theirs.id)
        by_phone = await session.requests.find_by_phone("+380671234567")
    assert erased is not None
    assert (erased.address, erased.latitude, erased.phone, erased.photos, erased.description) == (
        None,
        None,
        None,
        (),
        "",
    )
    assert (erased.category, erased.district, erased.status) == (
        mine.category,
        mine.district,
        mine.status,
    )
    assert kept == theirs
    assert [r.id for r in by_phone] == [theirs.id]


async def test_hostile_text_is_stored_as_data(store: Storage, clock: ManualClock) -> None:
    nasty = "'); DROP TABLE requests; -- <b>x</b> \x00 ✓"
    async with store.transaction() as session:
        alice = await resident_id(session, ALICE, clock)
        created = await session.requests.create(
            new_request(alice, ALICE, clock, description=nasty, address=nasty, photos=(nasty,))
        )
    async with store.transaction() as session:
        found = await session.requests.get(created.id)
    assert found is not None
    # PostgreSQL text cannot hold NUL: that backend keeps U+FFFD instead (storage.postgres.text).
    kept = nasty if isinstance(store, SqliteStorage) else nasty.replace("\x00", NUL_REPLACEMENT)
    assert (found.description, found.address, found.photos) == (kept, kept, (kept,))


async def test_card_copies_are_kept_once_per_message(store: Storage, clock: ManualClock) -> None:
    staff = UserRef(ChannelName.TELEGRAM, "-100")
    async with store.transaction() as session:
        rid = await resident_id(session, ALICE, clock)
        first = await session.requests.create(new_request(rid, ALICE, clock))
        second = await session.requests.create(new_request(rid, ALICE, clock))
        add = session.card_copies.add
        await add(first.id, staff, "7", caption=True, now=clock.now())
        await add(first.id, staff, "7", caption=True, now=clock.now())  # known: nothing new
        await add(first.id, ALICE, "8", caption=False, now=clock.now())
        await add(second.id, staff, "9", caption=False, now=clock.now())
        await add(second.id + 1, staff, "10", caption=False, now=clock.now())  # no such request
        copies = await session.card_copies.for_request(first.id)
        await session.card_copies.remove(staff, "7")
        left = await session.card_copies.for_request(first.id)
        assert await session.card_copies.for_request(second.id + 1) == []
    assert [(c.chat, c.message_id, c.caption) for c in copies] == [
        (staff, "7", True),
        (ALICE, "8", False),
    ]
    assert [c.message_id for c in left] == ["8"]


async def test_lock_reads_the_request_to_change_or_none(store: Storage, clock: ManualClock) -> None:
    async with store.transaction() as session:
        rid = await resident_id(session, ALICE, clock)
        created = await session.requests.create(new_request(rid, ALICE, clock))
    async with store.transaction() as session:
        assert await session.requests.lock(created.id) == await session.requests.get(created.id)
        assert await session.requests.lock(created.id + 1) is None
