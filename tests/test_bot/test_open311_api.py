"""The Open311 API (``bot.open311``) over real HTTP on 127.0.0.1 with a real SQLite file: every
endpoint in JSON and XML, each answer checked against ``docs/open311.yaml``; keys and scopes,
the rate limit, privacy, bad input (an Open311 error body, never a 500), the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.media import MEDIA_PREFIX
from domain.requests import (
    Actor,
    ActorKind,
    Category,
    District,
    EventKind,
    RequestDraft,
    Status,
    format_number,
)
from domain.texts import Texts
from services.open311_keys import ApiKeys
from services.requests import RequestService
from services.routing import load_routing
from storage.media import FileMediaStore
from storage.open311 import ApiScope
from storage.sqlite import SqliteStorage
from tests.test_bot.open311_harness import (
    PREFIX,
    ApiWorld,
    as_strings,
    make_key,
    start_api,
    xml_as_json,
)

STAFF = UserRef(ChannelName.TELEGRAM, "-1001234567890")
RESIDENT = UserRef(ChannelName.TELEGRAM, "5551")
PHONE = "+380671234567"

_TEXTS: Texts | None = None


def texts() -> Texts:
    global _TEXTS  # noqa: PLW0603 - loaded once for the module
    if _TEXTS is None:
        _TEXTS = Texts.load()
    return _TEXTS


def request_service(clock: ManualClock) -> RequestService:
    return RequestService(load_routing(), texts(), clock, STAFF)


@pytest.fixture
async def world(storage: SqliteStorage, clock: ManualClock) -> AsyncIterator[ApiWorld]:
    api = await start_api(storage, clock, request_service(clock))
    try:
        yield api
    finally:
        await api.stop()


async def file_in_bot(world: ApiWorld, draft: RequestDraft) -> int:
    """A request a resident filed in Telegram (through the same service the intake uses)."""
    async with world.storage.transaction() as session:
        resident = await session.residents.touch(RESIDENT, now=world.clock.now())
        request = await world.requests.create(session, resident, draft)
    return request.id


WATER = RequestDraft(
    category=Category.WATER,
    description="Немає води <b>з ранку</b> & тиск\x07 слабкий",
    district=District.TERNIVSKYI,
    address="вул. Світлогірська, 10",
    latitude=47.91,
    longitude=33.39,
    phone="067 123 45 67",
)
DAMAGE = RequestDraft(
    category=Category.DAMAGED_HOUSING,
    description="Вибиті вікна після удару",
    address="вул. Героїв, 5",
    latitude=47.9,
    longitude=33.4,
    phone="0671234567",
)


async def both(world: ApiWorld, path: str, **kwargs: Any) -> Any:
    """GET ``path`` as JSON and as XML; both valid, the XML the same document; the JSON."""
    client = world.client()
    as_json = await client.get(f"{path}.json", **kwargs)
    as_xml = await client.get(f"{path}.xml", **kwargs)
    assert as_json.status == as_xml.status == 200, (as_json.body, as_xml.body)
    assert xml_as_json(as_xml.xml) == as_strings(as_json.json)
    return as_json.json


# --- services -----------------------------------------------------------------------------


async def test_services_list_every_category_in_json_and_xml(world: ApiWorld) -> None:
    services = await both(world, "/services")
    assert isinstance(services, list)
    assert [service["service_code"] for service in services] == [c.value for c in Category]
    water = next(service for service in services if service["service_code"] == "water")
    assert water["service_name"] == "Водопостачання"
    assert water["group"] == "Комунальні послуги"
    assert water["metadata"] is True
    assert "вода" in water["keywords"].split(",")
    assert "год" in water["description"]


async def test_a_service_definition_lists_the_districts(world: ApiWorld) -> None:
    definition = await both(world, "/services/water")
    assert isinstance(definition, dict)
    [district] = definition["attributes"]
    assert district["code"] == "district"
    assert district["datatype"] == "singlevaluelist"
    assert {value["key"] for value in district["values"]} == {d.value for d in District}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_unknown_service_is_a_404_error_body(world: ApiWorld, fmt: str) -> None:
    answer = await world.client().get(f"/services/teleport.{fmt}")
    assert answer.status == 404
    errors = answer.json if fmt == "json" else xml_as_json(answer.xml)
    assert "teleport" in errors[0]["description"]


# --- filing requests ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_request_filed_through_the_api_is_routed_and_carded(
    world: ApiWorld, fmt: str
) -> None:
    form = {
        "service_code": "water",
        "lat": "47.91",
        "long": "33.39",
        "address_string": "вул. Світлогірська, 10",
        "description": "Прорив труби біля під'їзду",
        "phone": "067 123 45 67",
        "first_name": "Олена",
        "last_name": "Коваль",
        "email": "olena@example.org",
        "attribute[district]": "ternivskyi",
        "media_url": "https://example.org/photo.jpg",
    }
    answer = await world.client().post(f"/requests.{fmt}", form)
    assert answer.status == 200, answer.body
    [created] = answer.json if fmt == "json" else xml_as_json(answer.xml)
    number = created["service_request_id"]
    assert number == format_number(1)
    assert "водопостачання" in created["service_notice"]
    assert created["account_id"] == "back-office"
    async with world.storage.transaction() as session:
        request = await session.requests.get(1)
        assert request is not None
        assert request.category is Category.WATER
        assert request.district is District.TERNIVSKYI
        assert request.executor_id == "city_water"
        assert request.phone == PHONE
        assert request.photos == ("https://example.org/photo.jpg",)
        assert request.resident == UserRef(ChannelName.OPEN311, "back-office")
        card = await session.outbox.by_key(f"req:{request.id}:card:staff")
        assert card is not None
        assert card.chat == STAFF
        [audit] = await session.open311.audit_log()
    assert audit.key_name == "back-office"
    assert audit.method == "POST"
    assert audit.status == 200
    assert number in audit.subject
    assert "Олена" not in answer.body.decode()


async def test_a_read_key_cannot_write_and_the_refusal_is_audited(world: ApiWorld) -> None:
    form = {"service_code": "water", "address_string": "x", "description": "y"}
    answer = await world.client(read=True).post("/requests.json", form)
    assert answer.status == 403
    async with world.storage.transaction() as session:
        assert await session.requests.get(1) is None
        [audit] = await session.open311.audit_log()
    assert (audit.key_name, audit.status) == ("dashboard", 403)
    assert audit.subject.startswith("refused")


BAD_FORMS = [
    ({"address_string": "x", "description": "y"}, 400, "service_code"),
    ({"service_code": "teleport", "address_string": "x", "description": "y"}, 404, "teleport"),
    ({"service_code": "water", "lat": "47.9", "description": "y"}, 400, "together"),
    ({"service_code": "water", "lat": "91", "long": "33", "description": "y"}, 400, "lat"),
    ({"service_code": "water", "lat": "nan", "long": "33", "description": "y"}, 400, "lat"),
    ({"service_code": "water", "lat": "abc", "long": "33", "description": "y"}, 400, "lat"),
    ({"service_code": "water", "description": "y"}, 400, "location"),
    ({"service_code": "water", "address_string": "x", "description": "  "}, 400, "description"),
    ({"service_code": "water", "address_string": "x" * 301, "description": "y"}, 400, "address"),
    (
        {"service_code": "water", "address_string": "x", "description": "y", "phone": "123"},
        400,
        "phone",
    ),
    (
        {
            "service_code": "water",
            "address_string": "x",
            "description": "y",
            "media_url": "ftp://x",
        },
        400,
        "media_url",
    ),
    (
        {
            "service_code": "water",
            "address_string": "x",
            "description": "y",
            "attribute[district]": "atlantis",
        },
        400,
        "district",
    ),
]


@pytest.mark.parametrize(("form", "status", "word"), BAD_FORMS)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_input_gets_an_open311_error_and_files_nothing(
    world: ApiWorld, form: dict[str, str], status: int, word: str, fmt: str
) -> None:
    answer = await world.client().post(f"/requests.{fmt}", form)
    assert answer.status == status, answer.body
    errors = answer.json if fmt == "json" else xml_as_json(answer.xml)
    assert word in errors[0]["description"]
    async with world.storage.transaction() as session:
        assert await session.requests.get(1) is None
        [audit] = await session.open311.audit_log()
    assert audit.status == status


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_an_oversized_body_a_json_body_and_a_broken_form_are_refused(
    world: ApiWorld, fmt: str
) -> None:
    client = world.client()
    big = {"service_code": "water", "address_string": "x", "description": "y" * 70_000}
    answer = await client.post(f"/requests.{fmt}", big)
    assert answer.status == 413
    answer = await client.call(
        "POST",
        f"/requests.{fmt}",
        body=b'{"service_code": "water"}',
        content_type="application/json",
    )
    assert answer.status == 400
    assert (
        "x-www-form-urlencoded"
        in (answer.json if fmt == "json" else xml_as_json(answer.xml))[0]["description"]
    )
    broken = await client.call(
        "POST", f"/requests.{fmt}", body=b"--x\r\n", content_type="multipart/form-data"
    )
    assert broken.status == 400


# --- reading requests ----------------------------------------------------------------------


async def test_requests_are_read_with_their_deadline_and_executor(world: ApiWorld) -> None:
    request_id = await file_in_bot(world, WATER)
    number = format_number(request_id)
    [one] = await both(world, f"/requests/{number}")
    assert one["service_request_id"] == number
    assert one["status"] == "open"
    assert one["service_code"] == "water"
    assert one["agency_responsible"].startswith("Міське підприємство водопостачання")
    assert one["expected_datetime"] > one["requested_datetime"]
    assert one["requested_datetime"].endswith("+02:00")  # city time
    assert (one["lat"], one["long"]) == (47.91, 33.39)
    assert one["address"] == "вул. Світлогірська, 10"
    # Escaped as the cards are; no control characters (XML cannot carry them).
    assert one["description"] == "Немає води &lt;b&gt;з ранку&lt;/b&gt; &amp; тиск слабкий"
    listed = await both(world, "/requests")
    assert listed == [one]


async def test_phone_and_name_never_appear_and_damage_locations_are_withheld(
    world: ApiWorld,
) -> None:
    await file_in_bot(world, WATER)
    damage_id = await file_in_bot(world, DAMAGE)
    client = world.client()
    bodies = [
        (await client.get(path)).body.decode()
        for path in (
            "/requests.json",
            "/requests.xml",
            f"/requests/{format_number(damage_id)}.json",
            f"/requests/{format_number(damage_id)}.xml",
        )
    ]
    for body in bodies:
        for secret in ("380671234567", "067 123", "Героїв"):
            assert secret not in body
    [damage] = (await client.get(f"/requests/{format_number(damage_id)}.json")).json
    assert not {"lat", "long", "address"} & set(damage)
    assert damage["description"] == "Вибиті вікна після удару"


async def test_the_filters_and_paging(world: ApiWorld, clock: ManualClock) -> None:
    water = await file_in_bot(world, WATER)
    clock.advance(timedelta(days=2))
    damage = await file_in_bot(world, DAMAGE)
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session, damage, Status.REJECTED, actor_operator(), note="Не наша громада"
        )
    numbers = {water: format_number(water), damage: format_number(damage)}

    async def ids(**params: str) -> list[str]:
        found = await both(world, "/requests", params=params)
        assert isinstance(found, list)
        return [item["service_request_id"] for item in found]

    assert await ids() == [numbers[damage], numbers[water]]
    assert await ids(service_request_id=f"{numbers[water]},999") == [numbers[water]]
    assert await ids(service_code="water") == [numbers[water]]
    assert await ids(service_code="water,damaged_housing") == [numbers[damage], numbers[water]]
    assert await ids(status="closed") == [numbers[damage]]
    assert await ids(status="open") == [numbers[water]]
    assert await ids(start_date=(clock.now() - timedelta(days=1)).isoformat()) == [numbers[damage]]
    assert await ids(end_date=(clock.now() - timedelta(days=1)).isoformat()) == [numbers[water]]
    assert await ids(page_size="1") == [numbers[damage]]
    assert await ids(page_size="1", page="2") == [numbers[water]]
    assert await ids(page="3", page_size="1") == []
    [closed] = await both(world, f"/requests/{numbers[damage]}")
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "Не наша громада"
    assert "expected_datetime" not in closed


def actor_operator() -> Actor:
    return Actor.operator(700, "Олена")


BAD_QUERIES = [
    {"start_date": "yesterday"},
    {"end_date": "2026-13-01"},
    {"start_date": "1900-01-01T00:00:00Z"},
    {"start_date": "2026-12-02T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},
    {"status": "pending"},
    {"service_code": "teleport"},
    {"service_request_id": "abc"},
    {"service_request_id": ",".join(str(n) for n in range(1, 102))},
    {"page": "0"},
    {"page_size": "1000"},
    {"page": "-1"},
    {"page_size": "1e3"},
]


@pytest.mark.parametrize("params", BAD_QUERIES)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_filters_get_a_400(world: ApiWorld, params: dict[str, str], fmt: str) -> None:
    answer = await world.client().get(f"/requests.{fmt}", params=params)
    assert answer.status == 400, answer.body


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("number", ["1520-999999", "nonsense", "0"])
async def test_an_unknown_request_is_a_404(world: ApiWorld, fmt: str, number: str) -> None:
    answer = await world.client().get(f"/requests/{number}.{fmt}")
    assert answer.status == 404


async def test_a_kept_photo_is_linked_and_served(
    storage: SqliteStorage, clock: ManualClock, tmp_path: object
) -> None:
    from pathlib import Path  # noqa: PLC0415

    media = FileMediaStore(Path(str(tmp_path)) / "media")
    media.ensure()
    ref = media.put(b"\xff\xd8\xff" + b"\x00" * 64)
    api = await start_api(storage, clock, request_service(clock), media=media)
    try:
        draft = RequestDraft(Category.WASTE, "Сміття", address="двір", photos=(ref, "AgACfileid"))
        request_id = await file_in_bot(api, draft)
        [one] = (await api.client().get(f"/requests/{format_number(request_id)}.json")).json
        name = ref.removeprefix(MEDIA_PREFIX)
        assert one["media_url"] == f"{api.base}/open311/v2/media/{name}"
        got = await api.client(read=True).get(one["media_url"].removeprefix(api.base + PREFIX))
        assert got.status == 200
        assert got.headers["Content-Type"] == "image/jpeg"
        assert got.body.startswith(b"\xff\xd8\xff")
        async with api.http.get(one["media_url"]) as refused:
            assert refused.status == 401
        missing = await api.client().get("/media/" + "0" * 64 + ".jpg")
        assert missing.status == 404
        # A photo kept for something else (a relay message) is not served; a photo of damaged
        # housing is neither linked nor served (it shows where a strike hit).
        other = media.put(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        unrelated = await api.client().get("/media/" + other.removeprefix(MEDIA_PREFIX))
        assert unrelated.status == 404
        damage = RequestDraft(Category.DAMAGED_HOUSING, "Вікна", address="x", photos=(other,))
        damage_id = await file_in_bot(api, damage)
        [hidden] = (await api.client().get(f"/requests/{format_number(damage_id)}.json")).json
        assert "media_url" not in hidden
        withheld = await api.client().get("/media/" + other.removeprefix(MEDIA_PREFIX))
        assert withheld.status == 404
    finally:
        await api.stop()


# --- updates -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_updates_change_the_request_once_per_update_id(
    world: ApiWorld, clock: ManualClock, fmt: str
) -> None:
    request_id = await file_in_bot(world, WATER)
    number = format_number(request_id)
    client = world.client()

    async def post(**form: str) -> list[dict[str, str]]:
        answer = await client.post(f"/servicerequestupdates.{fmt}", form)
        assert answer.status == 200, answer.body
        result = answer.json if fmt == "json" else xml_as_json(answer.xml)
        assert isinstance(result, list)
        return result

    clock.advance(60)
    [first] = await post(
        update_id="bo-1", service_request_id=number, status="IN_PROGRESS", description="Бригада"
    )
    assert first["update_id"] == "bo-1"
    assert first["status"] == "IN_PROGRESS"
    assert first["external_status_code"] == "in_progress"
    assert first["service_request_id"] == number
    clock.advance(60)
    [again] = await post(update_id="bo-1", service_request_id=number, status="IN_PROGRESS")
    assert again == first
    [fixed] = await post(update_id="bo-2", service_request_id=number, status="FIXED")
    assert fixed["status"] == "FIXED"

    async with world.storage.transaction() as session:
        request = await session.requests.get(request_id)
        history = await session.requests.history(request_id)
        told = [
            await session.outbox.by_key(f"req:{request_id}:status:{entry.id}")
            for entry in history
            if entry.event is EventKind.STATUS
        ]
        audit = await session.open311.audit_log()
    assert request is not None
    assert request.status is Status.DONE
    assert request.done_at is not None
    statuses = [entry for entry in history if entry.event is EventKind.STATUS]
    assert [entry.to_status for entry in statuses] == [Status.IN_PROGRESS, Status.DONE]
    assert {entry.actor.kind for entry in statuses} == {ActorKind.BACK_OFFICE}
    assert statuses[0].note == "Бригада"
    assert all(message is not None and message.chat == RESIDENT for message in told)
    assert [entry.status for entry in audit] == [200, 200, 200]
    assert "repeated" in audit[1].subject

    listed = await both(world, "/servicerequestupdates")
    assert isinstance(listed, list)
    assert [item["update_id"] for item in listed] == ["bo-1", "bo-2"]
    assert listed[0]["description"] == "Бригада"


async def test_an_operator_s_change_is_listed_with_a_history_id(world: ApiWorld) -> None:
    request_id = await file_in_bot(world, WATER)
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session,
            request_id,
            Status.ACCEPTED,
            actor_operator(),
        )
    [update] = await both(world, "/servicerequestupdates")
    assert update["update_id"].startswith("h")
    assert update["status"] == "ACTION_SCHEDULED"


BAD_UPDATES = [
    ({"service_request_id": "1", "status": "FIXED"}, 400, "update_id"),
    ({"update_id": "a b", "service_request_id": "1", "status": "FIXED"}, 400, "update_id"),
    ({"update_id": "u", "status": "FIXED"}, 400, "service_request_id"),
    ({"update_id": "u", "service_request_id": "1"}, 400, "status"),
    ({"update_id": "u", "service_request_id": "1", "status": "TELEPORTED"}, 400, "unknown status"),
    ({"update_id": "u", "service_request_id": "999", "status": "FIXED"}, 404, "no such"),
    ({"update_id": "u", "service_request_id": "1", "status": "NEW"}, 400, "unknown status"),
    ({"update_id": "u", "service_request_id": "1", "status": "OPEN"}, 400, None),
    ({"update_id": "u", "service_request_id": "1", "status": "DUPLICATE"}, 400, "description"),
    ({"update_id": "u", "service_request_id": "1", "status": "REOPENED"}, 400, "cannot go"),
    (
        {"update_id": "u", "service_request_id": "1", "status": "FIXED", "updated_datetime": "x"},
        400,
        "updated_datetime",
    ),
]


@pytest.mark.parametrize(("form", "status", "word"), BAD_UPDATES)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_updates_change_nothing(
    world: ApiWorld, form: dict[str, str], status: int, word: str | None, fmt: str
) -> None:
    request_id = await file_in_bot(world, WATER)
    async with world.storage.transaction() as session:
        await world.requests.change_status(
            session,
            request_id,
            Status.ACCEPTED,
            actor_operator(),
        )
        before = await session.requests.history(request_id)
    answer = await world.client().post(f"/servicerequestupdates.{fmt}", form)
    assert answer.status == status, answer.body
    if word is not None:
        errors = answer.json if fmt == "json" else xml_as_json(answer.xml)
        assert word in errors[0]["description"]
    async with world.storage.transaction() as session:
        assert await session.requests.history(request_id) == before


async def test_an_update_id_is_not_reused_for_another_request(world: ApiWorld) -> None:
    first = await file_in_bot(world, WATER)
    second = await file_in_bot(world, WATER)
    client = world.client()
    form = {"update_id": "u1", "service_request_id": str(first), "status": "IN_PROGRESS"}
    assert (await client.post("/servicerequestupdates.json", form)).status == 200
    form["service_request_id"] = str(second)
    answer = await client.post("/servicerequestupdates.json", form)
    assert answer.status == 400
    assert "another" in answer.json[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_update_dates_get_a_400(world: ApiWorld, fmt: str) -> None:
    answer = await world.client().get(
        f"/servicerequestupdates.{fmt}", params={"start_date": "2026-02-30"}
    )
    assert answer.status == 400


# --- keys, limits, unknown paths ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_every_call_needs_a_valid_key(world: ApiWorld, clock: ManualClock, fmt: str) -> None:
    nobody = world.client(key="")
    assert (await nobody.get(f"/services.{fmt}")).status == 401
    stranger = world.client(key="o311_" + "x" * 43)
    assert (await stranger.get(f"/services.{fmt}")).status == 403
    assert (await world.client(key="not a key").get(f"/requests.{fmt}")).status == 403
    by_query = await nobody.get(f"/services.{fmt}", params={"api_key": world.read_key})
    assert by_query.status == 200
    async with world.storage.transaction() as session:
        assert await ApiKeys(clock).revoke(session, "dashboard")
    assert (await world.client(read=True).get(f"/services.{fmt}")).status == 403


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    api = await start_api(storage, clock, request_service(clock), rate_per_minute=6)
    try:
        client = api.client()
        statuses = [(await client.get("/services.json")).status for _ in range(6)]
        assert statuses[:5] == [200] * 5
        limited = await client.get("/services.xml")
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) >= 1
        # Another key has its own allowance.
        assert (await api.client(read=True).get("/services.json")).status == 200
    finally:
        await api.stop()


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_paths_and_methods_get_error_bodies(world: ApiWorld, fmt: str) -> None:
    client = world.client()
    assert (await client.get(f"/nothing.{fmt}")).status == 404
    assert (await client.get("/services.yaml")).status == 404
    wrong = await client.call("DELETE", f"/requests.{fmt}")
    assert wrong.status == 405
    assert (await client.call("PUT", f"/services.{fmt}")).status == 405


async def test_a_second_key_with_a_taken_name_is_refused(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    from storage.open311 import KeyNameTaken  # noqa: PLC0415

    await make_key(storage, clock, "fms", ApiScope.READ)
    with pytest.raises(KeyNameTaken):
        await make_key(storage, clock, "fms", ApiScope.WRITE)
    async with storage.transaction() as session:
        keys = await session.open311.list_keys()
    assert [(key.name, key.scope) for key in keys] == [("fms", ApiScope.READ)]
