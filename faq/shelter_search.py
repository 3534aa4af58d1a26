"""Shelters by a typed address or district, and the city's area for shared locations.

A resident who cannot share a location writes "вул. Зразкова 15", "укриття на Тестовій",
"Металургійний район сховище" or "тернівський р-н". The text is folded (:mod:`faq.text`), the
street-type words (вул., вулиця, просп., пр-т, ул. ...) are set aside, and the remaining words
are compared with the streets of the shelter list and with the city's districts (the shelter
file's ``district`` column and :data:`domain.requests.DISTRICT_NAMES_UK`, with Russian and
English forms), by common prefix (inflections: "Зразковій", "Тестовой") and edit similarity
(typos: "Тества"). Only streets that have a shelter in the list can be found: there is no
geocoder, so an unknown address is answered with "share a location".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from domain.requests import DISTRICT_NAMES_UK, District
from faq.shelters import Shelter, ShelterDirectory, haversine_m
from faq.text import STOP_WORDS, fold

__all__ = [
    "AddressMatch",
    "CityArea",
    "PlaceKind",
    "ShelterFinder",
]

# Street-type words, folded (і→и, й→и, doubled letters collapsed), with the kind they name.
_STREET_TYPES: Mapping[str, str] = {
    **dict.fromkeys(("вул", "вулиця", "вулици", "вулицю", "вулицею", "ул", "улица", "улице"), "st"),
    **dict.fromkeys(("улицу", "улицеи", "street", "st", "str"), "st"),
    **dict.fromkeys(("просп", "проспект", "проспекти", "проспекту", "проспекта", "пр"), "av"),
    **dict.fromkeys(("проспекте", "avenue", "ave", "av", "пркт"), "av"),
    **dict.fromkeys(("пров", "провулок", "провулку", "пер", "переулок", "переулке"), "ln"),
    **dict.fromkeys(("бул", "бульв", "бульвар", "бульвари", "бульвару", "бульваре"), "bd"),
    **dict.fromkeys(("пл", "площа", "площи", "площу", "площадь", "площади", "square"), "sq"),
    **dict.fromkeys(("майдан", "майдани", "шосе", "шоссе"), "sq"),
    **dict.fromkeys(("мкр", "мкрн", "микрораион", "микрораиони", "микрораионе", "кв"), "mk"),
    **dict.fromkeys(("квартал", "квартали"), "mk"),
}
# Words that say "district" (folded): "район", "районі", "района", "р-н" (becomes "раион").
_DISTRICT_WORDS = ("раион", "district")
# Words that are never a street's name: shelter words (prefixes of folded words) and others.
_NOT_A_NAME_PREFIXES = (
    "укрит",
    "сховищ",
    "бомбосх",
    "бомбоуб",
    "бомбар",
    "убежищ",
    "shelter",
    "bunker",
    "найближч",
    "ближайш",
)
_NOT_A_NAME = frozenset(
    fold(
        " ".join(
            "поруч рядом возле біля около близько адреса адресу адрес будинок будинку дом "
            "дому місто місті город городе знайти найти неподалік недалеко"
        )
    ).split()
)
_ABBREVIATIONS = (
    (re.compile(r"\bпр-?к?т\b\.?", re.IGNORECASE), " проспект "),
    (re.compile(r"\bр-?о?н\b\.?", re.IGNORECASE), " район "),
    (re.compile(r"\bм-?к?р-?н?\b\.?", re.IGNORECASE), " мікрорайон "),
)
_TOKEN = re.compile(r"[^\W_]+")
_HOUSE = re.compile(r"^(\d{1,4})")
_CAPITALIZED = re.compile(r"(?<![\w'’ʼ])[A-ZА-ЯЁІЇЄҐ][\w'’ʼ-]{2,}")

# The districts' other spellings: Russian and English (the Ukrainian names are in domain/).
_DISTRICT_ALIASES: Mapping[District, tuple[str, ...]] = {
    District.DOVHYNTSIVSKYI: ("Довгинцевский", "Dovhyntsivskyi"),
    District.INHULETSKYI: ("Ингулецкий", "Inhuletskyi"),
    District.METALURHIINYI: ("Металлургический", "Metalurhiinyi"),
    District.POKROVSKYI: ("Покровский", "Pokrovskyi"),
    District.SAKSAHANSKYI: ("Саксаганский", "Saksahanskyi"),
    District.TERNIVSKYI: ("Терновский", "Ternivskyi"),
    District.TSENTRALNO_MISKYI: (
        "Центрально-Городской",
        "Центральний",
        "Центральный",
        "Tsentralno-Miskyi",
        "Central",
    ),
}

MATCH = 80.0  # the least word score that names a street or a district


class PlaceKind(StrEnum):
    STREET = "street"
    DISTRICT = "district"


@dataclass(frozen=True, slots=True)
class AddressMatch:
    """Shelters of the street or district a text names.

    ``place`` is the street as the list writes it ("вул. Зразкова") or the district's name.
    With a house number and at least two listed houses on the street, ``by_house`` is True and
    the shelters come nearest first from where that house should be (between the listed houses
    with the nearest numbers); otherwise they come in the list's order.
    """

    kind: PlaceKind
    place: str
    shelters: tuple[Shelter, ...]
    house: str | None = None
    by_house: bool = False


@dataclass(frozen=True, slots=True)
class CityArea:
    """The city as a circle: a shared location farther than ``radius_km`` from the centre is
    outside it, and the city's shelter list means nothing there."""

    latitude: float
    longitude: float
    radius_km: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ValueError(f"not a point on Earth: {self.latitude}, {self.longitude}")
        if not (math.isfinite(self.radius_km) and self.radius_km > 0):
            raise ValueError(f"the city's radius must be above 0 km, not {self.radius_km}")

    def distance_m(self, latitude: float, longitude: float) -> float:
        """How far a point is from the city's centre, in metres."""
        return haversine_m(self.latitude, self.longitude, latitude, longitude)

    def contains(self, latitude: float, longitude: float) -> bool:
        return self.distance_m(latitude, longitude) <= self.radius_km * 1000.0


@dataclass(frozen=True, slots=True)
class _Query:
    words: tuple[str, ...]  # folded words that may name a street or a district
    street_type: str | None
    says_district: bool
    house: str | None
    signal: bool  # a street type, "район", a house number or a capitalized name


@dataclass(frozen=True, slots=True)
class _Street:
    label: str
    name: tuple[str, ...]
    type: str | None
    shelters: tuple[Shelter, ...]


@dataclass(frozen=True, slots=True)
class _District:
    label: str
    names: tuple[tuple[str, ...], ...]
    shelters: tuple[Shelter, ...]


class ShelterFinder:
    """Finds the shelters of a typed street or district in a :class:`ShelterDirectory`."""

    def __init__(self, directory: ShelterDirectory, limit: int = 5) -> None:
        self.limit = limit
        self._streets = _streets(directory.shelters)
        self._districts = _districts(directory.shelters)

    def looks_like_address(self, text: str, *, typed: bool = False) -> bool:
        """Whether the text names a place: a name with a street type, "район", a house number
        or a capital letter; ``typed``: with a street type or "район" only ("вул. Мелешкіна")."""
        query = _parse(text)
        if typed:
            return bool(query.words) and bool(query.street_type or query.says_district)
        return query.signal

    def search(self, text: str, *, need_signal: bool = False) -> AddressMatch | None:
        """The shelters of the street or district ``text`` names, or None.

        ``need_signal``: find only when the text also says "вул.", "район", a house number or
        a capitalized name (for a text that was not asked for an address).
        """
        query = _parse(text)
        if not query.words or (need_signal and not query.signal):
            return None
        street = self._street(query)
        district = self._district(query)
        if street is not None and (
            district is None or not query.says_district or query.street_type or query.house
        ):
            shelters = street.shelters
            if district is not None:
                shelters = tuple(s for s in shelters if s in district.shelters) or shelters
            return self._on_street(street, shelters, query.house)
        if district is not None and district.shelters:
            return AddressMatch(PlaceKind.DISTRICT, district.label, district.shelters)
        return None

    def _street(self, query: _Query) -> _Street | None:
        best: tuple[float, int, _Street] | None = None
        for order, street in enumerate(self._streets):
            score = _phrase_score(query.words, street.name)
            if score < MATCH:
                continue
            if query.street_type and street.type and query.street_type != street.type:
                score -= 5.0
            if best is None or (score, -order) > (best[0], -best[1]):
                best = (score, order, street)
        return best[2] if best else None

    def _district(self, query: _Query) -> _District | None:
        best: tuple[float, _District] | None = None
        for district in self._districts:
            score = max(_phrase_score(query.words, name) for name in district.names)
            if score >= MATCH and (best is None or score > best[0]):
                best = (score, district)
        return best[1] if best else None

    def _on_street(
        self, street: _Street, shelters: tuple[Shelter, ...], house: str | None
    ) -> AddressMatch:
        point = _house_point(shelters, house) if house else None
        if point is None:
            return AddressMatch(PlaceKind.STREET, street.label, shelters, house=house)
        ordered = sorted(
            shelters, key=lambda s: haversine_m(point[0], point[1], s.latitude, s.longitude)
        )
        return AddressMatch(PlaceKind.STREET, street.label, tuple(ordered), house, by_house=True)


# --- parsing --------------------------------------------------------------------------------


def _expand(text: str) -> str:
    for pattern, replacement in _ABBREVIATIONS:
        text = pattern.sub(replacement, text)
    return text


def _words(text: str) -> list[str]:
    """Folded words; numbers stay as typed (folding would collapse "100" into "10")."""
    words: list[str] = []
    for token in _TOKEN.findall(_expand(text)):
        if token[0].isdigit():
            words.append(token.casefold())
        else:
            words.extend(fold(token).split())
    return words


def _is_name(word: str) -> bool:
    return (
        word not in STOP_WORDS
        and word not in _NOT_A_NAME
        and word not in _STREET_TYPES
        and not word.startswith(_NOT_A_NAME_PREFIXES + _DISTRICT_WORDS)
    )


def _parse(text: str) -> _Query:
    raw = _expand(text)
    words: list[str] = []
    street_type: str | None = None
    says_district = False
    house: str | None = None
    for word in _words(text):
        if word in _STREET_TYPES:
            street_type = street_type or _STREET_TYPES[word]
        elif word.startswith(_DISTRICT_WORDS):
            says_district = True
        elif word[0].isdigit():
            if house is None and words:
                house = word
            elif house is None:
                words.append(word)  # "8 Березня": a number before any name is part of it
        elif _is_name(word):
            words.append(word)
    # A capitalized name after the first word ("де укриття на Соборності") is a place's name.
    capitalized = any(
        match.start() > len(raw) - len(raw.lstrip())
        and all(_is_name(w) for w in fold(name).split())
        for match in _CAPITALIZED.finditer(raw)
        for name in (match.group(0),)
    )
    signal = bool(words) and bool(street_type or says_district or house or capitalized)
    return _Query(tuple(words), street_type, says_district, house, signal)


def _split_address(address: str) -> tuple[str | None, tuple[str, ...], str | None]:
    """ "вул. Зразкова, 15" -> ("st", ("зразкова",), "15")."""
    street_type: str | None = None
    name: list[str] = []
    house: str | None = None
    for word in _words(address):
        if word in _STREET_TYPES and not name:
            street_type = _STREET_TYPES[word]
        elif word[0].isdigit() and name:
            house = word
            break
        elif word not in STOP_WORDS or word.isdigit():
            name.append(word)
    return street_type, tuple(name), house


def _street_label(address: str) -> str:
    head = address.split(",", 1)[0].strip()
    return re.sub(r"\s+\d[\w/-]*$", "", head) or head


def _streets(shelters: Iterable[Shelter]) -> tuple[_Street, ...]:
    grouped: dict[tuple[str | None, tuple[str, ...]], list[Shelter]] = {}
    labels: dict[tuple[str | None, tuple[str, ...]], str] = {}
    for shelter in shelters:
        street_type, name, _ = _split_address(shelter.address)
        if not name:
            continue
        key = (street_type, name)
        grouped.setdefault(key, []).append(shelter)
        labels.setdefault(key, _street_label(shelter.address))
    return tuple(
        _Street(labels[key], key[1], key[0], tuple(items)) for key, items in grouped.items()
    )


def _name(text: str) -> tuple[str, ...]:
    return tuple(fold(text).split())


def _districts(shelters: Sequence[Shelter]) -> tuple[_District, ...]:
    tables: list[tuple[str, tuple[tuple[str, ...], ...]]] = [
        (label, (_name(label), *(_name(alias) for alias in _DISTRICT_ALIASES.get(district, ()))))
        for district, label in DISTRICT_NAMES_UK.items()
    ]
    # A district the file names that the city's list does not (a renamed one, say) counts too.
    for value in dict.fromkeys(s.district for s in shelters if s.district.strip()):
        if not any(_phrase_score(_name(value), n) >= MATCH for _, ns in tables for n in ns):
            tables.append((value, (_name(value),)))
    result = []
    for label, names in tables:
        members = tuple(
            s
            for s in shelters
            if s.district.strip()
            and max(_phrase_score(_name(s.district), n) for n in names) >= MATCH
        )
        result.append(_District(label, names, members))
    return tuple(result)


# --- scoring --------------------------------------------------------------------------------


def _word_score(query: str, name: str) -> float:
    """100 for the same word; an inflection (a common prefix all but the last three letters of
    the name, at least four) scores 85-100; otherwise the edit similarity."""
    if query == name:
        return 100.0
    if query[0].isdigit() or name[0].isdigit() or len(query) < 4 or len(name) < 4:
        return 0.0
    ratio = fuzz.ratio(query, name)
    prefix = 0
    for a, b in zip(query, name, strict=False):
        if a != b:
            break
        prefix += 1
    if prefix >= max(4, len(name) - 3):
        return 85.0 + 0.15 * ratio
    return ratio


def _phrase_score(words: Sequence[str], name: Sequence[str]) -> float:
    """The best mean word score of ``name`` against consecutive words of the text."""
    size = len(name)
    if not size or len(words) < size:
        return 0.0
    return max(
        sum(_word_score(q, n) for q, n in zip(words[i : i + size], name, strict=True)) / size
        for i in range(len(words) - size + 1)
    )


def _house_number(house: str | None) -> int | None:
    match = _HOUSE.match(house or "")
    return int(match.group(1)) if match else None


def _house_point(shelters: Sequence[Shelter], house: str) -> tuple[float, float] | None:
    """Where house ``house`` should be: between the listed houses with the nearest numbers
    (linearly), or the listed house at the end of the street it is beyond."""
    number = _house_number(house)
    known: dict[int, Shelter] = {}
    for shelter in shelters:
        listed = _house_number(_split_address(shelter.address)[2])
        if listed is not None:
            known.setdefault(listed, shelter)
    if number is None or len(known) < 2:
        return None
    below = [n for n in known if n <= number]
    above = [n for n in known if n >= number]
    if not below or not above:
        end = known[max(below) if below else min(above)]
        return end.latitude, end.longitude
    low, high = known[max(below)], known[min(above)]
    if low is high:
        return low.latitude, low.longitude
    share = (number - max(below)) / (min(above) - max(below))
    return (
        low.latitude + share * (high.latitude - low.latitude),
        low.longitude + share * (high.longitude - low.longitude),
    )
