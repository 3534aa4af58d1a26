"""Shelters by a typed street or district (SAMPLE data), and the city's area."""

from __future__ import annotations

from functools import cache

import pytest

from faq.shelter_search import CityArea, PlaceKind, ShelterFinder
from faq.shelters import SAMPLE_SHELTERS_CSV, Shelter, ShelterDirectory, load_shelters

KYIV = (50.45, 30.52)
KRYVYI_RIH = CityArea(47.91, 33.39, radius_km=40)


@cache
def finder() -> ShelterFinder:
    return ShelterFinder(load_shelters(SAMPLE_SHELTERS_CSV))


def addresses(text: str) -> list[str]:
    match = finder().search(text)
    assert match is not None, text
    return [shelter.address for shelter in match.shelters]


@pytest.mark.parametrize(
    "text",
    [
        "вул. Тестова",
        "вулиця Тестова",
        "ул. Тестовая",  # Russian
        "укриття на вулиці Тестовій",  # locative
        "укрытие на Тестовой",
        "ВУЛ ТЕСТОВА",
        "укриття на вулиці Тества",  # a letter missing
        "укриття на вул. Тесотва",  # two letters swapped
    ],
)
def test_a_street_is_found_whatever_the_form(text: str) -> None:
    match = finder().search(text)
    assert match is not None
    assert match.kind is PlaceKind.STREET
    assert match.place == "вул. Тестова"
    assert all(s.address.startswith("вул. Тестова") for s in match.shelters)
    assert len(match.shelters) == 4


def test_the_street_type_tells_two_streets_of_one_name_apart() -> None:
    assert addresses("просп. Прикладний")[0].startswith("просп. Прикладний")
    assert addresses("пр-т Прикладний")[0].startswith("просп. Прикладний")
    assert addresses("вул. Прикладна")[0].startswith("вул. Прикладна")


def test_with_a_house_number_the_nearest_listed_house_comes_first() -> None:
    assert addresses("вул. Зразкова 15")[0] == "вул. Зразкова, 15"
    assert addresses("вул. Зразкова, 190")[:2] == ["вул. Зразкова, 200", "вул. Зразкова, 120"]
    # Numbers are kept as typed: 100 is not folded into 10 like a doubled letter.
    match = finder().search("просп. Прикладний, 100")
    assert match is not None
    assert match.house == "100"
    assert match.by_house
    assert next(s.address for s in match.shelters) == "просп. Прикладний, 58"


def test_without_a_house_number_the_list_order_is_kept() -> None:
    match = finder().search("вул. Зразкова")
    assert match is not None
    assert not match.by_house
    assert [s.address for s in match.shelters] == [
        "вул. Зразкова, 1",
        "вул. Зразкова, 15",
        "вул. Зразкова, 120",
        "вул. Зразкова, 200",
    ]


@pytest.mark.parametrize(
    ("text", "district"),
    [
        ("укриття в Металургійному районі", "Металургійний"),
        ("Тернівський район сховище", "Тернівський"),
        ("тернівський р-н", "Тернівський"),
        ("убежище Металлургический район", "Металургійний"),
        ("укриття Центрально-Міський район", "Центрально-Міський"),
        ("укриття Довгинцевский", "Довгинцівський"),
    ],
)
def test_a_district_is_found_in_ukrainian_and_russian(text: str, district: str) -> None:
    match = finder().search(text)
    assert match is not None
    assert match.kind is PlaceKind.DISTRICT
    assert match.place == district
    assert match.shelters
    assert all(s.district == district for s in match.shelters)


@pytest.mark.parametrize(
    "text",
    ["вул. Мелешкіна 10", "де укриття на Соборності", "де найближче укриття", "яка погода"],
)
def test_an_unknown_street_or_no_street_finds_nothing(text: str) -> None:
    assert finder().search(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("вул. Мелешкіна 10", True),
        ("де укриття на Соборності", True),
        ("Тернівський район", True),
        ("Мелешкіна 10", True),
        ("де найближче укриття", False),
        ("Де укриття в Кривому Розі?", False),
        ("де бомбосховище на моїй вулиці", False),
    ],
)
def test_what_looks_like_an_address(text: str, expected: bool) -> None:
    assert finder().looks_like_address(text) is expected


def test_a_bare_name_needs_a_street_type_or_number_when_asked_for_a_signal() -> None:
    assert finder().search("тестова", need_signal=True) is None
    assert finder().search("вул. Тестова", need_signal=True) is not None


def test_a_district_only_the_file_names_is_found_too() -> None:
    shelter = Shelter("Школа", "вул. Нова, 1", 47.9, 33.4, "сховище", True, "", "Південний")
    match = ShelterFinder(ShelterDirectory([shelter])).search("Південний район")
    assert match is not None
    assert match.place == "Південний"


def test_the_city_area() -> None:
    assert KRYVYI_RIH.contains(47.91, 33.39)
    for shelter in load_shelters(SAMPLE_SHELTERS_CSV):
        assert KRYVYI_RIH.contains(shelter.latitude, shelter.longitude)
    assert not KRYVYI_RIH.contains(*KYIV)
    assert 330_000 < KRYVYI_RIH.distance_m(*KYIV) < 360_000
    with pytest.raises(ValueError, match="radius"):
        CityArea(47.91, 33.39, radius_km=0)
    with pytest.raises(ValueError, match="Earth"):
        CityArea(91.0, 33.39, radius_km=40)
