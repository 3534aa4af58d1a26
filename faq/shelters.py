"""The shelter list (a CSV the city maintains) and the nearest-shelter search over it."""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from faq.errors import ContentProblem, ShelterDataError

__all__ = [
    "SAMPLE_SHELTERS_CSV",
    "NearbyShelter",
    "Shelter",
    "ShelterDirectory",
    "haversine_m",
    "load_shelters",
    "map_url",
]

logger = logging.getLogger(__name__)

SAMPLE_SHELTERS_CSV = Path(__file__).resolve().parent / "data" / "shelters_sample.csv"
COLUMNS = ("name", "address", "latitude", "longitude", "type", "accessible", "hours", "district")
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

_TRUE = frozenset({"yes", "true", "1", "так", "да", "y"})
_FALSE = frozenset({"no", "false", "0", "ні", "нет", "n", ""})


@dataclass(frozen=True, slots=True)
class Shelter:
    """One shelter as the city lists it."""

    name: str
    address: str
    latitude: float
    longitude: float
    type: str
    accessible: bool
    hours: str
    district: str


@dataclass(frozen=True, slots=True)
class NearbyShelter:
    """A shelter and how far it is from the point asked about, in metres along the ground."""

    shelter: Shelter
    distance_m: float


class ShelterDirectory:
    """All known shelters; answers "which are nearest to this point"."""

    def __init__(self, shelters: Iterable[Shelter]) -> None:
        self._shelters = tuple(shelters)

    @property
    def shelters(self) -> tuple[Shelter, ...]:
        return self._shelters

    def __len__(self) -> int:
        return len(self._shelters)

    def __iter__(self) -> Iterator[Shelter]:
        return iter(self._shelters)

    def nearest(self, latitude: float, longitude: float, k: int = 3) -> list[NearbyShelter]:
        """The ``k`` shelters closest to the point, nearest first (ties keep file order)."""
        if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
            raise ValueError(f"not a point on Earth: {latitude}, {longitude}")
        if k <= 0:
            return []
        ranked = sorted(
            (
                NearbyShelter(s, haversine_m(latitude, longitude, s.latitude, s.longitude))
                for s in self._shelters
            ),
            key=lambda nearby: nearby.distance_m,
        )
        return ranked[:k]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def map_url(shelter: Shelter, zoom: int = 17) -> str:
    """An OpenStreetMap link with a marker on the shelter."""
    lat = f"{shelter.latitude:.6f}"
    lon = f"{shelter.longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map={zoom}/{lat}/{lon}"


def load_shelters(path: Path) -> ShelterDirectory:
    """Read and validate a shelter CSV; raise ShelterDataError listing every bad line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ShelterDataError(
            [ContentProblem(file=name, message=f"not UTF-8 text ({exc.reason})")]
        ) from None
    except OSError as exc:
        raise ShelterDataError(
            [ContentProblem(file=name, message=f"cannot read file: {exc.strerror}")]
        ) from None
    problems: list[ContentProblem] = []
    shelters: list[Shelter] = []
    # Comment lines are blanked rather than dropped so csv line numbers stay the file's.
    lines = ["" if line.lstrip().startswith("#") else line for line in text.splitlines()]
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header: list[str] | None = None
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if tuple(header) != COLUMNS:
                problems.append(
                    ContentProblem(
                        file=name,
                        line=line,
                        message=f"header must be {','.join(COLUMNS)}; found {','.join(header)}",
                    )
                )
                break
            continue
        shelter = _parse_row(row, line, name, problems)
        if shelter is not None:
            shelters.append(shelter)
    if header is None:
        problems.append(ContentProblem(file=name, message="no header row and no shelters"))
    elif not shelters and not problems:
        problems.append(ContentProblem(file=name, message="no shelters listed"))
    if problems:
        raise ShelterDataError(problems)
    logger.info("loaded %d shelters from %s", len(shelters), name)
    return ShelterDirectory(shelters)


def _parse_row(
    row: list[str], line: int, file: str, problems: list[ContentProblem]
) -> Shelter | None:
    def bad(message: str) -> None:
        problems.append(ContentProblem(file=file, line=line, message=message))

    if len(row) != len(COLUMNS):
        bad(f"expected {len(COLUMNS)} columns, found {len(row)}")
        return None
    values = dict(zip(COLUMNS, (cell.strip() for cell in row), strict=True))
    found = len(problems)
    for column in ("name", "address", "type"):
        if not values[column]:
            bad(f"{column} is empty")
    latitude = _coordinate(values["latitude"], "latitude", 90.0, bad)
    longitude = _coordinate(values["longitude"], "longitude", 180.0, bad)
    flag = values["accessible"].lower()
    if flag not in _TRUE | _FALSE:
        bad(f"accessible must be yes or no, not {values['accessible']!r}")
    if len(problems) > found or latitude is None or longitude is None:
        return None
    return Shelter(
        name=values["name"],
        address=values["address"],
        latitude=latitude,
        longitude=longitude,
        type=values["type"],
        accessible=flag in _TRUE,
        hours=values["hours"],
        district=values["district"],
    )


def _coordinate(text: str, column: str, limit: float, bad: Callable[[str], None]) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        bad(f"{column} is not a number: {text!r}")
        return None
    if not math.isfinite(value) or not -limit <= value <= limit:
        bad(f"{column} {text} is outside -{limit:g}..{limit:g}")
        return None
    return value
