"""The shelter CSV: validation with line numbers, nearest-first search, map links."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.errors import ContentError, ShelterDataError
from faq.shelters import (
    SAMPLE_SHELTERS_CSV,
    Shelter,
    ShelterDirectory,
    haversine_m,
    load_shelters,
    map_url,
)

HEADER = "name,address,latitude,longitude,type,accessible,hours,district\n"


def write_csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "shelters.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def shelter(name: str, latitude: float, longitude: float) -> Shelter:
    return Shelter(name, "вул. Зразкова, 1", latitude, longitude, "сховище", True, "", "")


def test_sample_is_marked_and_inside_the_city() -> None:
    text = SAMPLE_SHELTERS_CSV.read_text(encoding="utf-8")
    assert text.startswith("# SAMPLE DATA")
    assert "SHELTERS_CSV" in text
    directory = load_shelters(SAMPLE_SHELTERS_CSV)
    assert 20 <= len(directory) <= 30
    for item in directory:
        assert item.name.startswith("Зразок:")
        assert 47.70 <= item.latitude <= 48.05
        assert 33.25 <= item.longitude <= 33.55
    latitudes = [s.latitude for s in directory]
    assert max(latitudes) - min(latitudes) > 0.25  # spread over the city, not one cluster


def test_haversine_known_distances() -> None:
    assert haversine_m(47.91, 33.39, 47.91, 33.39) == 0.0
    # One degree of latitude is about 111.2 km everywhere.
    assert haversine_m(47.0, 33.39, 48.0, 33.39) == pytest.approx(111_195, rel=1e-3)
    # A degree of longitude shrinks with cos(latitude): about 74.6 km at 47.91 N.
    assert haversine_m(47.91, 33.0, 47.91, 34.0) == pytest.approx(74_550, rel=2e-3)
    assert haversine_m(47.9, 33.3, 48.0, 33.5) == pytest.approx(haversine_m(48.0, 33.5, 47.9, 33.3))


def test_nearest_orders_by_distance() -> None:
    directory = ShelterDirectory(
        [
            shelter("far", 48.03, 33.49),
            shelter("near", 47.911, 33.391),
            shelter("middle", 47.93, 33.40),
            shelter("south", 47.72, 33.26),
        ]
    )
    found = directory.nearest(47.91, 33.39, k=3)
    assert [n.shelter.name for n in found] == ["near", "middle", "far"]
    distances = [n.distance_m for n in found]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(haversine_m(47.91, 33.39, 47.911, 33.391))
    assert 100 < distances[0] < 200


def test_nearest_edge_cases() -> None:
    directory = ShelterDirectory([shelter("a", 47.9, 33.4), shelter("b", 47.95, 33.4)])
    assert len(directory.nearest(47.9, 33.4, k=10)) == 2
    assert directory.nearest(47.9, 33.4, k=0) == []
    assert ShelterDirectory([]).nearest(47.9, 33.4) == []
    with pytest.raises(ValueError, match="not a point"):
        directory.nearest(147.9, 33.4)


def test_nearest_on_sample_from_the_south() -> None:
    directory = load_shelters(SAMPLE_SHELTERS_CSV)
    [first] = directory.nearest(47.70, 33.26, k=1)
    assert first.shelter.district == "Інгулецький"
    assert first.distance_m < 2_000


def test_map_url() -> None:
    url = map_url(shelter("a", 47.9105, 33.392))
    assert url == (
        "https://www.openstreetmap.org/?mlat=47.910500&mlon=33.392000#map=17/47.910500/33.392000"
    )


def test_comments_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    body = (
        "# a comment line\n"
        '"Зразок: №1","вул. Зразкова, 1",47.91,33.39,сховище,yes,цілодобово,Центр\n'
        "\n"
        "Зразок: №2,вул. Умовна 2,47.92,33.40,ПРУ,ні,,Центр\n"
    )
    directory = load_shelters(write_csv(tmp_path, body, header="# SAMPLE\n" + HEADER))
    assert [s.name for s in directory] == ["Зразок: №1", "Зразок: №2"]
    assert [s.accessible for s in directory] == [True, False]
    assert directory.shelters[0].address == "вул. Зразкова, 1"


def test_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    body = (
        "ok,addr,47.91,33.39,сховище,yes,,\n"  # line 2
        "bad lat,addr,north,33.39,сховище,yes,,\n"  # line 3
        "# comment\n"  # line 4
        "out of range,addr,47.91,233.39,сховище,yes,,\n"  # line 5
        "short,addr,47.91\n"  # line 6
        ",addr,47.91,33.39,сховище,maybe,,\n"  # line 7
    )
    with pytest.raises(ShelterDataError) as caught:
        load_shelters(write_csv(tmp_path, body))
    problems = [str(p) for p in caught.value.problems]
    assert len(problems) == 5, problems
    assert any(":3:" in p and "latitude is not a number: 'north'" in p for p in problems)
    assert any(":5:" in p and "longitude 233.39 is outside" in p for p in problems)
    assert any(":6:" in p and "expected 8 columns, found 3" in p for p in problems)
    assert any(":7:" in p and "name is empty" in p for p in problems)
    assert any(":7:" in p and "accessible must be yes or no" in p for p in problems)
    assert isinstance(caught.value, ContentError)


def test_wrong_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,b\n", header="name,address,lat,lon\n")
    with pytest.raises(ShelterDataError, match="header must be name,address,latitude"):
        load_shelters(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ShelterDataError, match="cannot read file"):
        load_shelters(tmp_path / "nowhere.csv")
    with pytest.raises(ShelterDataError, match="no header row"):
        load_shelters(write_csv(tmp_path, "", header="# only a comment\n"))
    with pytest.raises(ShelterDataError, match="no shelters listed"):
        load_shelters(write_csv(tmp_path, ""))
