"""The routing file: who executes a request and how fast, by category and district.

``services/routing.yaml`` (or the file ``ROUTING_FILE`` names) is edited by people, not
programmers, so it is validated once at start-up with pydantic and every mistake is reported
with the file name and the entry (``routing.yaml: rules[3]: unknown executor 'vodokanal'``).

Lookup for a request of category C in district D: a rule listing C and D, else a rule listing C
without districts, else ``default``. The deadline class is the rule's ``class`` if it sets one,
else the category's ``class`` (or its ``night_class`` when the request arrives during
``night_hours``, city time). Deadlines are counted from the moment the request is created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.identity import ChannelName, UserRef
from domain.requests import CATEGORIES, DISTRICTS, Category, District

__all__ = [
    "DEFAULT_ROUTING_FILE",
    "Executor",
    "Route",
    "Routing",
    "RoutingError",
    "ServiceClass",
    "load_routing",
]

DEFAULT_ROUTING_FILE = Path(str(resources.files("services") / "routing.yaml"))
# Executor ids travel in button payloads (``v1:asg:<request id>:<executor id>``).
_ID = re.compile(r"^[a-z0-9_]{1,32}$")


class RoutingError(Exception):
    """The routing file is missing, malformed or inconsistent; the message names file and entry."""


@dataclass(frozen=True, slots=True)
class Executor:
    """Who acts on a request: a district executive committee, a city department, a commission."""

    id: str
    name: str
    telegram_chat_id: int | None = None
    district: District | None = None

    @property
    def chat(self) -> UserRef | None:
        """The executor's own chat, if the routing file gives one: the file's field names the
        channel (``telegram_chat_id``), so this is the one place that knows it."""
        if self.telegram_chat_id is None:
            return None
        return UserRef(ChannelName.TELEGRAM, str(self.telegram_chat_id))


@dataclass(frozen=True, slots=True)
class ServiceClass:
    """A pair of deadlines: acknowledge within ``acknowledge``, resolve within ``resolve``."""

    id: str
    title: str
    acknowledge: timedelta
    resolve: timedelta
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes and how fast it must be handled."""

    executor: Executor
    service_class: ServiceClass

    @property
    def urgent(self) -> bool:
        return self.service_class.urgent

    def deadlines(self, created_at: datetime) -> tuple[datetime, datetime]:
        """(acknowledge by, resolve by) for a request created at ``created_at``."""
        if created_at.tzinfo is None:
            raise ValueError("deadlines need a timezone-aware creation time")
        return created_at + self.service_class.acknowledge, created_at + self.service_class.resolve


# --- the file's shape (pydantic, at the trust boundary) ---------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _ClassModel(_Model):
    title: str = Field(min_length=1)
    acknowledge_hours: float = Field(gt=0, le=24 * 90)
    resolve_hours: float = Field(gt=0, le=24 * 90)
    urgent: bool = False


class _ExecutorModel(_Model):
    name: str = Field(min_length=1, max_length=200)
    telegram_chat_id: int | None = None
    district: str | None = None


class _CategoryModel(_Model):
    class_: str = Field(alias="class")
    night_class: str | None = None


class _RuleModel(_Model):
    categories: list[str] = Field(min_length=1)
    districts: list[str] = Field(default_factory=list)
    executor: str
    class_: str | None = Field(default=None, alias="class")


class _DefaultModel(_Model):
    executor: str
    class_: str | None = Field(default=None, alias="class")


class _FileModel(_Model):
    night_hours: str | None = None
    classes: dict[str, _ClassModel] = Field(min_length=1)
    executors: dict[str, _ExecutorModel] = Field(min_length=1)
    categories: dict[str, _CategoryModel]
    rules: list[_RuleModel] = Field(default_factory=list)
    default: _DefaultModel


# --- the loaded table -------------------------------------------------------------------------


@dataclass(frozen=True)
class Routing:
    """The validated routing table."""

    executors: Mapping[str, Executor]
    classes: Mapping[str, ServiceClass]
    category_classes: Mapping[Category, tuple[ServiceClass, ServiceClass | None]]
    rules: Mapping[tuple[Category, District | None], tuple[Executor, ServiceClass | None]]
    default_executor: Executor
    default_class: ServiceClass | None
    night_hours: tuple[time, time] | None
    source: str = "routing.yaml"

    def executor(self, executor_id: str) -> Executor:
        try:
            return self.executors[executor_id]
        except KeyError:
            raise RoutingError(f"{self.source}: unknown executor {executor_id!r}") from None

    def is_night(self, moment: datetime, tz: ZoneInfo) -> bool:
        if self.night_hours is None:
            return False
        start, end = self.night_hours
        local = moment.astimezone(tz).time()
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def service_class(
        self, category: Category, district: District | None, *, at: datetime, tz: ZoneInfo
    ) -> ServiceClass:
        return self.route(category, district, at=at, tz=tz).service_class

    def route(
        self, category: Category, district: District | None, *, at: datetime, tz: ZoneInfo
    ) -> Route:
        """The executor and deadline class of a request created ``at`` (``tz`` = city time)."""
        found = self.rules.get((category, district)) if district else None
        if found is None:
            found = self.rules.get((category, None))
        if found is None:
            found = (self.default_executor, self.default_class)
        executor, rule_class = found
        if rule_class is not None:
            return Route(executor, rule_class)
        day_class, night_class = self.category_classes[category]
        if night_class is not None and self.is_night(at, tz):
            return Route(executor, night_class)
        return Route(executor, day_class)


def load_routing(path: Path | str | None = None) -> Routing:
    """Read and validate the routing file (the shipped one by default)."""
    file = Path(path) if path is not None else DEFAULT_ROUTING_FILE
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise RoutingError(f"{file}: cannot read the routing file ({error.strerror})") from error
    return parse_routing(text, source=str(file))


def parse_routing(text: str, *, source: str = "routing.yaml") -> Routing:
    """Validate the YAML ``text`` of a routing file; errors name ``source`` and the entry."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RoutingError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise RoutingError(f"{source}: the file must be a mapping with classes, executors, ...")
    try:
        model = _FileModel.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "(top level)"
            problems.append(f"{where}: {item['msg']}")
        raise RoutingError(f"{source}: " + "; ".join(problems)) from None
    return _Builder(model, source).build()


class _Builder:
    """Cross-checks the entries (unknown ids, duplicates, gaps) and builds the table."""

    def __init__(self, model: _FileModel, source: str) -> None:
        self.model = model
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def build(self) -> Routing:
        model = self.model
        night = self._night_hours(model.night_hours)
        classes = {
            class_id: ServiceClass(
                class_id,
                entry.title,
                timedelta(hours=entry.acknowledge_hours),
                timedelta(hours=entry.resolve_hours),
                entry.urgent,
            )
            for class_id, entry in model.classes.items()
        }
        for class_id, entry in model.classes.items():
            if entry.acknowledge_hours > entry.resolve_hours:
                self.fail(f"classes.{class_id}", "acknowledge_hours is longer than resolve_hours")
        executors: dict[str, Executor] = {}
        for executor_id, executor_entry in model.executors.items():
            where = f"executors.{executor_id}"
            if not _ID.match(executor_id):
                self.fail(where, "an id is 1-32 characters of a-z, 0-9 and _")
            district = self._district(where + ".district", executor_entry.district)
            executors[executor_id] = Executor(
                executor_id,
                executor_entry.name.strip(),
                executor_entry.telegram_chat_id,
                district,
            )

        category_classes: dict[Category, tuple[ServiceClass, ServiceClass | None]] = {}
        for category_id, category_entry in model.categories.items():
            where = f"categories.{category_id}"
            category = self._category(where, category_id)
            day = self._class(where + ".class", category_entry.class_, classes)
            night_class = (
                self._class(where + ".night_class", category_entry.night_class, classes)
                if category_entry.night_class
                else None
            )
            if night_class is not None and night is None:
                self.fail(where + ".night_class", "needs night_hours at the top of the file")
            if category is not None and day is not None:
                category_classes[category] = (day, night_class)
        for category in CATEGORIES:
            if category.value not in model.categories:
                self.fail("categories", f"no deadline class for category {category.value!r}")

        rules: dict[tuple[Category, District | None], tuple[Executor, ServiceClass | None]] = {}
        seen: dict[tuple[Category, District | None], int] = {}
        for index, rule in enumerate(model.rules):
            where = f"rules[{index}]"
            executor = self._executor(where + ".executor", rule.executor, executors)
            rule_class = (
                self._class(where + ".class", rule.class_, classes) if rule.class_ else None
            )
            districts: list[District | None] = [
                self._district(where + ".districts", name) for name in rule.districts
            ] or [None]
            for category_id in rule.categories:
                category = self._category(where + ".categories", category_id)
                for district in districts:
                    if category is None or (district is None and rule.districts):
                        continue
                    key = (category, district)
                    if key in seen:
                        self.fail(
                            where,
                            f"{category.value}"
                            + (f" in {district.value}" if district else " (any district)")
                            + f" is already routed by rules[{seen[key]}]",
                        )
                        continue
                    seen[key] = index
                    if executor is not None:
                        rules[key] = (executor, rule_class)

        default_executor = self._executor("default.executor", model.default.executor, executors)
        default_class = (
            self._class("default.class", model.default.class_, classes)
            if model.default.class_
            else None
        )
        if self.problems or default_executor is None:
            raise RoutingError(f"{self.source}: " + "; ".join(self.problems))
        return Routing(
            executors=executors,
            classes=classes,
            category_classes=category_classes,
            rules=rules,
            default_executor=default_executor,
            default_class=default_class,
            night_hours=night,
            source=self.source,
        )

    def _night_hours(self, value: str | None) -> tuple[time, time] | None:
        if value is None or not value.strip():
            return None
        try:
            start_text, end_text = value.split("-")
            start = time.fromisoformat(start_text.strip())
            end = time.fromisoformat(end_text.strip())
        except ValueError:
            self.fail("night_hours", f"must look like 22:00-06:00, got {value!r}")
            return None
        if start == end:
            self.fail("night_hours", "start and end must differ")
            return None
        return start, end

    def _category(self, where: str, value: str) -> Category | None:
        try:
            return Category(value)
        except ValueError:
            known = ", ".join(category.value for category in CATEGORIES)
            self.fail(where, f"unknown category {value!r} (known: {known})")
            return None

    def _district(self, where: str, value: str | None) -> District | None:
        if value is None:
            return None
        try:
            return District(value)
        except ValueError:
            known = ", ".join(district.value for district in DISTRICTS)
            self.fail(where, f"unknown district {value!r} (known: {known})")
            return None

    def _class(
        self, where: str, value: str | None, classes: Mapping[str, ServiceClass]
    ) -> ServiceClass | None:
        if value is None:
            return None
        found = classes.get(value)
        if found is None:
            self.fail(where, f"unknown class {value!r} (known: {', '.join(sorted(classes))})")
        return found

    def _executor(
        self, where: str, value: str, executors: Mapping[str, Executor]
    ) -> Executor | None:
        found = executors.get(value)
        if found is None:
            self.fail(where, f"unknown executor {value!r}")
        return found
