"""The Open311 API's parameters, checked at the boundary: text in, typed values or an error out.

Every function takes the raw strings of a query or a form and returns typed values, or raises
:class:`Open311Error` (an HTTP status and one clear sentence, which the API returns as an
Open311 error body). Nothing here knows HTTP; ``bot.open311`` calls it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from domain.requests import (
    OPEN_STATUSES,
    Category,
    District,
    RequestDraft,
    Status,
    parse_number,
)
from services.request_limits import MAX_ADDRESS, MAX_NOTE, MAX_STORED_DESCRIPTION

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "IncomingUpdate",
    "Open311Error",
    "RequestFilters",
    "UpdateFilters",
    "parse_date",
    "parse_draft",
    "parse_request_filters",
    "parse_request_id",
    "parse_service_code",
    "parse_update",
    "parse_update_filters",
]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_IDS = 100
MAX_UPDATE_ID = 64
MAX_URL = 2048
MAX_PARAM = 8000
DEFAULT_WINDOW = timedelta(days=90)  # GeoReport v2: without dates, the last 90 days
MAX_UPDATES = 1000
_UPDATE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_CLOSED = frozenset({Status.DONE, Status.REJECTED})


class Open311Error(Exception):
    """A request the API refuses: ``status`` (400, 403, 404...) and a sentence for the caller."""

    def __init__(self, status: int, description: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.description = description
        self.retry_after = retry_after  # seconds, for 429 and 503
        super().__init__(description)


def bad(description: str) -> Open311Error:
    return Open311Error(400, description)


def _one(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if len(value) > MAX_PARAM:
        raise bad(f"{name} is too long")
    return value


def parse_date(text: str, name: str, tz: ZoneInfo) -> datetime:
    """A W3C / ISO 8601 date-time (``2026-12-06T09:30:00+02:00``, ``...Z``) or a date
    (``2026-12-06``, the start of that day in city time); without an offset it is city time."""
    value = text.strip()
    if not value or len(value) > 40:
        raise bad(f"{name} is not a date (ISO 8601, e.g. 2026-12-06T09:30:00+02:00)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise bad(f"{name} is not a date (ISO 8601, e.g. 2026-12-06T09:30:00+02:00)") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        moment.astimezone(ZoneInfo("UTC"))
    except (OverflowError, ValueError) as error:
        raise bad(f"{name} is out of range") from error
    if not 2000 <= moment.year <= 2200:
        raise bad(f"{name} is out of range (years 2000-2200)")
    return moment


def parse_service_code(text: str | None) -> Category:
    """A category id (``water``); ``Open311Error`` 404 for an unknown one."""
    if text is None or not text.strip():
        raise bad("service_code is required")
    try:
        return Category(text.strip())
    except ValueError as error:
        raise Open311Error(404, f"unknown service_code {text.strip()[:64]!r}") from error


def parse_request_id(text: str) -> int:
    """``1520-000123`` (or ``123``) -> 123; 404 for anything else (a request that cannot exist)."""
    request_id = parse_number(text) if len(text) <= 40 else None
    if request_id is None:
        raise Open311Error(404, "no such service request")
    return request_id


@dataclass(frozen=True, slots=True)
class RequestFilters:
    """``GET requests``: what to list."""

    ids: tuple[int, ...] | None
    categories: tuple[Category, ...] | None
    start: datetime | None
    end: datetime | None
    statuses: tuple[Status, ...] | None
    page: int
    page_size: int


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _one(params, name)
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise bad(f"{name} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise bad(f"{name} must be a whole number from {low} to {high}")
    return value


def _window(
    params: Mapping[str, str], tz: ZoneInfo, now: datetime, *, default: bool
) -> tuple[datetime | None, datetime | None]:
    start_text, end_text = _one(params, "start_date"), _one(params, "end_date")
    start = parse_date(start_text, "start_date", tz) if start_text is not None else None
    end = parse_date(end_text, "end_date", tz) if end_text is not None else None
    if start is not None and end is not None and end < start:
        raise bad("end_date is before start_date")
    if default and start is None:
        start = (end or now) - DEFAULT_WINDOW
    return start, end


def parse_request_filters(
    params: Mapping[str, str], *, tz: ZoneInfo, now: datetime
) -> RequestFilters:
    """``service_request_id`` (a comma-separated list; the other filters are then ignored, as
    GeoReport v2 says), ``service_code`` (a comma-separated list), ``start_date``,
    ``end_date`` (creation time; without them the last 90 days), ``status`` (``open``,
    ``closed`` or both), ``page`` (from 1) and ``page_size`` (up to 200)."""
    page = _int(params, "page", 1, 1, 100_000)
    page_size = _int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    raw_ids = _one(params, "service_request_id")
    if raw_ids is not None:
        parts = [part.strip() for part in raw_ids.split(",") if part.strip()]
        if not parts or len(parts) > MAX_IDS:
            raise bad(f"service_request_id must list 1-{MAX_IDS} request numbers")
        ids: list[int] = []
        for part in parts:
            request_id = parse_number(part) if len(part) <= 40 else None
            if request_id is None:
                raise bad(f"service_request_id: {part[:40]!r} is not a request number")
            ids.append(request_id)
        return RequestFilters(tuple(ids), None, None, None, None, page, page_size)
    categories: tuple[Category, ...] | None = None
    raw_codes = _one(params, "service_code")
    if raw_codes is not None:
        codes = [part.strip() for part in raw_codes.split(",") if part.strip()]
        if not codes:
            raise bad("service_code is empty")
        found = []
        for code in codes:
            try:
                found.append(Category(code))
            except ValueError as error:
                raise bad(f"unknown service_code {code[:64]!r}") from error
        categories = tuple(found)
    statuses: tuple[Status, ...] | None = None
    raw_status = _one(params, "status")
    if raw_status is not None:
        wanted = {part.strip().lower() for part in raw_status.split(",") if part.strip()}
        if not wanted or not wanted <= {"open", "closed"}:
            raise bad("status must be open, closed or open,closed")
        chosen: set[Status] = set()
        if "open" in wanted:
            chosen |= OPEN_STATUSES
        if "closed" in wanted:
            chosen |= _CLOSED
        statuses = tuple(sorted(chosen))
    start, end = _window(params, tz, now, default=True)
    return RequestFilters(None, categories, start, end, statuses, page, page_size)


@dataclass(frozen=True, slots=True)
class UpdateFilters:
    """``GET servicerequestupdates``: the window of update times."""

    start: datetime
    end: datetime


def parse_update_filters(
    params: Mapping[str, str], *, tz: ZoneInfo, now: datetime
) -> UpdateFilters:
    """``start_date`` and ``end_date`` (without them: the last 90 days up to now)."""
    start, end = _window(params, tz, now, default=True)
    assert start is not None
    return UpdateFilters(start, end or now + timedelta(seconds=1))


def _coordinate(text: str | None, name: str, limit: float) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text.strip())
    except ValueError as error:
        raise bad(f"{name} must be a number") from error
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise bad(f"{name} must be between {-limit:g} and {limit:g}")
    return value


def _url(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    url = text.strip()
    if len(url) > MAX_URL or not re.match(r"^https?://[^\s/?#]+[^\s]*$", url):
        raise bad("media_url must be an http(s) URL of at most 2048 characters")
    return url


def _district(params: Mapping[str, str]) -> District | None:
    raw = _one(params, "attribute[district]")
    if raw is None or not raw.strip():
        return None
    try:
        return District(raw.strip())
    except ValueError as error:
        raise bad(f"attribute[district]: unknown district {raw.strip()[:64]!r}") from error


def parse_draft(params: Mapping[str, str]) -> RequestDraft:
    """``POST requests``: ``service_code``, ``lat`` + ``long`` and/or ``address_string``,
    ``description``, ``media_url``, ``phone``, ``attribute[district]``. Names and e-mail are
    not kept (a resident's name never leaves the bot, so it is not taken in either)."""
    category = parse_service_code(_one(params, "service_code"))
    latitude = _coordinate(_one(params, "lat"), "lat", 90.0)
    longitude = _coordinate(_one(params, "long"), "long", 180.0)
    if (latitude is None) != (longitude is None):
        raise bad("lat and long must be given together")
    address = (_one(params, "address_string") or "").strip() or None
    if address is not None and len(address) > MAX_ADDRESS:
        raise bad(f"address_string is longer than {MAX_ADDRESS} characters")
    if latitude is None and address is None:
        raise bad("a location is required: lat and long, or address_string")
    description = (_one(params, "description") or "").strip()
    if not description:
        raise bad("description is required")
    if len(description) > MAX_STORED_DESCRIPTION:
        raise bad(f"description is longer than {MAX_STORED_DESCRIPTION} characters")
    media = _url(_one(params, "media_url"))
    phone = (_one(params, "phone") or "").strip() or None
    if phone is not None and len(phone) > 32:
        raise bad("phone is not a phone number")
    return RequestDraft(
        category=category,
        description=description,
        district=_district(params),
        address=address,
        latitude=latitude,
        longitude=longitude,
        photos=(media,) if media else (),
        phone=phone,
    )


@dataclass(frozen=True, slots=True)
class IncomingUpdate:
    """``POST servicerequestupdates``: an update from the back office."""

    update_id: str
    request_id: int
    status: str  # the raw status, mapped against the request's current one
    description: str | None
    updated_at: datetime


def parse_update(params: Mapping[str, str], *, tz: ZoneInfo, now: datetime) -> IncomingUpdate:
    """``update_id`` (1-64 of letters, digits, ``._:-``), ``service_request_id``, ``status``,
    ``description`` (the note: a reason, a question or a comment), ``updated_datetime``."""
    update_id = (_one(params, "update_id") or "").strip()
    if not _UPDATE_ID.match(update_id):
        raise bad("update_id is required: 1-64 letters, digits, '.', '_', ':' or '-'")
    raw_id = (_one(params, "service_request_id") or "").strip()
    request_id = parse_number(raw_id) if raw_id and len(raw_id) <= 40 else None
    if request_id is None:
        raise bad("service_request_id is required: a request number such as 1520-000123")
    status = (_one(params, "status") or "").strip()
    if not status:
        raise bad("status is required")
    description = (_one(params, "description") or "").strip() or None
    if description is not None and len(description) > MAX_NOTE:
        raise bad(f"description is longer than {MAX_NOTE} characters")
    raw_time = _one(params, "updated_datetime")
    updated_at = parse_date(raw_time, "updated_datetime", tz) if raw_time else now
    return IncomingUpdate(update_id, request_id, status, description, updated_at)
