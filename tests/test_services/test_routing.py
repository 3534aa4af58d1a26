"""The routing file: the shipped one is complete and sensible; broken ones fail clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from domain.requests import CATEGORIES, DISTRICTS, Category, District
from services.routing import DEFAULT_ROUTING_FILE, RoutingError, load_routing, parse_routing

KYIV = ZoneInfo("Europe/Kyiv")
NOON = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 12:00 in Kyiv
NIGHT = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 00:30 in Kyiv


def test_the_shipped_file_loads_and_routes_everything() -> None:
    routing = load_routing()
    for category in CATEGORIES:
        for district in (*DISTRICTS, None):
            route = routing.route(category, district, at=NOON, tz=KYIV)
            assert route.executor.id in routing.executors
            ack, resolve = route.deadlines(NOON)
            assert NOON < ack <= resolve


@pytest.mark.parametrize("district", list(DISTRICTS))
@pytest.mark.parametrize(
    "category",
    [
        Category.ROADS_YARDS,
        Category.WASTE,
        Category.STREET_LIGHTING,
        Category.SHELTER_CONDITION,
        Category.LIGHT_MASKING,
    ],
)
def test_district_matters_go_to_the_district_committee(
    category: Category, district: District
) -> None:
    route = load_routing().route(category, district, at=NOON, tz=KYIV)
    assert route.executor.district is district
    assert route.executor.name.startswith("Виконком ")


def test_unknown_district_goes_to_the_operators() -> None:
    route = load_routing().route(Category.WASTE, None, at=NOON, tz=KYIV)
    assert route.executor.id == "contact_center"


@pytest.mark.parametrize(
    ("category", "district", "executor"),
    [
        (Category.WATER, District.TERNIVSKYI, "city_water"),
        (Category.HEATING, None, "city_heating"),
        (Category.ELECTRICITY, District.INHULETSKYI, "city_electricity"),
        (Category.IDP_HOUSING, None, "social_policy"),
        (Category.HUMANITARIAN_AID, District.POKROVSKYI, "social_policy"),
        (Category.DAMAGED_HOUSING, None, "damage_commission"),
        (Category.OTHER, District.INHULETSKYI, "contact_center"),
    ],
)
def test_city_departments(category: Category, district: District | None, executor: str) -> None:
    assert load_routing().route(category, district, at=NOON, tz=KYIV).executor.id == executor


def test_urgent_class_deadlines() -> None:
    route = load_routing().route(Category.SHELTER_CONDITION, District.POKROVSKYI, at=NOON, tz=KYIV)
    assert route.urgent
    ack, resolve = route.deadlines(NOON)
    assert ack - NOON == timedelta(hours=2)
    assert resolve - NOON == timedelta(hours=24)


def test_standard_class_deadlines() -> None:
    route = load_routing().route(Category.ROADS_YARDS, District.POKROVSKYI, at=NOON, tz=KYIV)
    assert not route.urgent
    ack, resolve = route.deadlines(NOON)
    assert ack - NOON == timedelta(hours=24)
    assert resolve - NOON == timedelta(days=7)


def test_light_masking_is_urgent_only_at_night() -> None:
    routing = load_routing()
    assert not routing.route(Category.LIGHT_MASKING, None, at=NOON, tz=KYIV).urgent
    assert routing.route(Category.LIGHT_MASKING, None, at=NIGHT, tz=KYIV).urgent


def test_about_a_third_of_categories_are_urgent_by_day() -> None:
    routing = load_routing()
    urgent = [c for c in CATEGORIES if routing.route(c, None, at=NOON, tz=KYIV).urgent]
    assert 3 <= len(urgent) <= 5


def test_naive_creation_time_is_refused() -> None:
    route = load_routing().route(Category.WATER, None, at=NOON, tz=KYIV)
    with pytest.raises(ValueError):
        route.deadlines(datetime(2026, 1, 1, 12, 0))


# --- broken files -----------------------------------------------------------------------------


def shipped() -> dict[str, object]:
    data = yaml.safe_load(DEFAULT_ROUTING_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def broken(change: object) -> str:
    data = shipped()
    change(data)  # type: ignore[operator]
    return yaml.safe_dump(data, allow_unicode=True)


def expect_error(text: str, *fragments: str) -> str:
    with pytest.raises(RoutingError) as caught:
        parse_routing(text, source="my-routing.yaml")
    message = str(caught.value)
    assert message.startswith("my-routing.yaml: ")
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_unknown_executor_in_a_rule() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["rules"][9]["executor"] = "vodokanal"

    expect_error(broken(change), "rules[9].executor", "unknown executor 'vodokanal'")


def test_unknown_category_and_district() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["rules"][0]["categories"] = ["snow"]
        data["rules"][1]["districts"] = ["kyivskyi"]

    expect_error(
        broken(change),
        "rules[0].categories: unknown category 'snow'",
        "rules[1].districts: unknown district 'kyivskyi'",
    )


def test_missing_default() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        del data["default"]

    expect_error(broken(change), "default", "Field required")


def test_category_without_a_class() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        del data["categories"]["water"]

    expect_error(broken(change), "no deadline class for category 'water'")


def test_unknown_class() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["categories"]["water"] = {"class": "asap"}

    expect_error(broken(change), "categories.water.class", "unknown class 'asap'")


def test_the_same_category_routed_twice() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["rules"].append({"categories": ["water"], "executor": "contact_center"})

    expect_error(broken(change), "water (any district) is already routed by rules[")


def test_bad_types_and_unknown_keys() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["classes"]["urgent"]["resolve_hours"] = "soon"
        data["executors"]["city_water"]["phone"] = "1520"

    expect_error(broken(change), "classes.urgent.resolve_hours", "executors.city_water.phone")


def test_acknowledge_longer_than_resolve() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["classes"]["urgent"]["acknowledge_hours"] = 48

    expect_error(broken(change), "classes.urgent", "acknowledge_hours is longer")


def test_bad_executor_id_and_night_hours() -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["executors"]["Водоканал"] = {"name": "x"}
        data["night_hours"] = "late"

    expect_error(broken(change), "executors.Водоканал", "night_hours")


def test_not_yaml_and_not_a_mapping() -> None:
    expect_error("classes: [unclosed", "not valid YAML")
    expect_error("- a list", "must be a mapping")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RoutingError) as caught:
        load_routing(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)


def test_a_file_path_is_named_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("default: {executor: nobody}\n", encoding="utf-8")
    with pytest.raises(RoutingError) as caught:
        load_routing(path)
    assert str(path) in str(caught.value)


def test_an_executor_chat_is_read(tmp_path: Path) -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["executors"]["city_water"]["telegram_chat_id"] = -1001234

    routing = parse_routing(broken(change))
    assert routing.executors["city_water"].telegram_chat_id == -1001234


def test_start_up_stops_on_a_broken_routing_file(tmp_path: Path) -> None:
    from bot.compose import build_request_service  # noqa: PLC0415 - the composition root
    from bot.settings import Settings  # noqa: PLC0415
    from domain.clock import ManualClock  # noqa: PLC0415
    from domain.texts import Texts  # noqa: PLC0415

    path = tmp_path / "routing.yaml"
    path.write_text(
        DEFAULT_ROUTING_FILE.read_text(encoding="utf-8").replace(
            "executor: city_heating", "executor: teplo"
        ),
        encoding="utf-8",
    )
    settings = Settings(_env_file=None, routing_file=path, staff_chat_id=-100)
    with pytest.raises(RoutingError) as caught:
        build_request_service(settings, texts=Texts.load(), clock=ManualClock())
    assert str(path) in str(caught.value)
    assert "unknown executor 'teplo'" in str(caught.value)
    shipped_settings = Settings(_env_file=None, staff_chat_id=-100)
    service = build_request_service(shipped_settings, texts=Texts.load(), clock=ManualClock())
    assert service.staff_chat is not None
    assert service.staff_chat.user_id == "-100"
