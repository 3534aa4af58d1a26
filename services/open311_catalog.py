"""The Open311 services: the request categories of the routing file, as a back office sees them.

A service is a category (``service_code`` = the category id): its name from the text catalogue,
a description with its deadlines from the routing file, a group and search keywords, and one
extra attribute, the city district (which routes a request to a district's executive
committee). Plain values; ``bot.open311`` writes them as JSON or XML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from domain.requests import DISTRICTS, Category
from domain.texts import Texts
from services.routing import Routing

__all__ = ["SENSITIVE_LOCATIONS", "Attribute", "ServiceInfo", "service_catalog"]

LANGUAGE = "uk"

# Locations of these requests are never published (wartime: where shelters are and where
# strikes hit must not be shown); the API omits their coordinates and address.
SENSITIVE_LOCATIONS = frozenset({Category.DAMAGED_HOUSING, Category.SHELTER_CONDITION})

_GROUPS: Mapping[Category, str] = {
    Category.STREET_LIGHTING: "Безпека",
    Category.SHELTER_CONDITION: "Безпека",
    Category.LIGHT_MASKING: "Безпека",
    Category.WATER: "Комунальні послуги",
    Category.HEATING: "Комунальні послуги",
    Category.ELECTRICITY: "Комунальні послуги",
    Category.ROADS_YARDS: "Благоустрій",
    Category.WASTE: "Благоустрій",
    Category.DAMAGED_HOUSING: "Житло та допомога",
    Category.IDP_HOUSING: "Житло та допомога",
    Category.HUMANITARIAN_AID: "Житло та допомога",
    Category.OTHER: "Інше",
}
_KEYWORDS: Mapping[Category, tuple[str, ...]] = {
    Category.STREET_LIGHTING: ("ліхтар", "освітлення", "темно"),
    Category.SHELTER_CONDITION: ("укриття", "сховище", "підвал"),
    Category.LIGHT_MASKING: ("світломаскування", "реклама", "комендантська"),
    Category.WATER: ("вода", "водопостачання", "прорив"),
    Category.HEATING: ("опалення", "батареї", "тепло"),
    Category.ELECTRICITY: ("світло", "електрика", "відключення"),
    Category.ROADS_YARDS: ("дорога", "яма", "двір"),
    Category.WASTE: ("сміття", "контейнер", "прибирання"),
    Category.DAMAGED_HOUSING: ("обстріл", "пошкодження", "вікна"),
    Category.IDP_HOUSING: ("ВПО", "житло", "переселенці"),
    Category.HUMANITARIAN_AID: ("гуманітарна", "допомога", "набір"),
    Category.OTHER: ("інше",),
}
_EMOJI = re.compile(r"^[^\w]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Attribute:
    """An extra field of a service (GeoReport v2 service definition)."""

    code: str
    description: str
    datatype: str
    required: bool
    values: tuple[tuple[str, str], ...]  # (key, name)
    order: int = 1


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One Open311 service."""

    code: str
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    attributes: tuple[Attribute, ...]

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)


def _hours(value: float) -> str:
    return f"{value:g}"


def service_catalog(routing: Routing, texts: Texts) -> tuple[ServiceInfo, ...]:
    """Every category, in the order of ``domain.requests.Category``."""
    district = Attribute(
        code="district",
        description="Район міста (заявку отримає виконком району)",
        datatype="singlevaluelist",
        required=False,
        values=tuple(
            (item.value, texts.get(LANGUAGE, f"req_district_{item.value}")) for item in DISTRICTS
        ),
    )
    services = []
    for category in Category:
        label = texts.get(LANGUAGE, f"req_cat_{category.value}")
        name = _EMOJI.sub("", label).strip() or category.value
        classes = routing.category_classes.get(category)
        day_class = classes[0] if classes is not None else routing.default_class
        if day_class is not None:
            description = (
                f"{name}. {day_class.title}: взяти в роботу протягом"
                f" {_hours(day_class.acknowledge.total_seconds() / 3600)} год, виконати протягом"
                f" {_hours(day_class.resolve.total_seconds() / 3600)} год."
            )
        else:
            description = f"{name}."
        services.append(
            ServiceInfo(
                code=category.value,
                name=name,
                description=description,
                group=_GROUPS[category],
                keywords=_KEYWORDS[category],
                attributes=(district,),
            )
        )
    return tuple(services)
