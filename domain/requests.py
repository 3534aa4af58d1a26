"""Requests (заявки): statuses and their transitions, categories, districts, numbers, phones.

Pure values and rules; no I/O. The ids of categories, districts and statuses are stored in the
database, written in the routing file and carried in button payloads, so they never change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import phonenumbers

from domain.identity import UserRef

__all__ = [
    "CATEGORIES",
    "DISTRICTS",
    "DISTRICT_NAMES_UK",
    "NUMBER_PREFIX",
    "OPEN_STATUSES",
    "STAFF_ONLY_EVENTS",
    "TRANSITIONS",
    "Actor",
    "ActorKind",
    "Category",
    "District",
    "EventKind",
    "InvalidPhone",
    "InvalidTransition",
    "MissingNote",
    "Request",
    "RequestDraft",
    "RequestError",
    "RequestNotFound",
    "Status",
    "StatusChange",
    "can_transition",
    "check_transition",
    "format_number",
    "normalize_phone",
    "parse_number",
]


class RequestError(Exception):
    """Root of the errors about requests."""


class InvalidTransition(RequestError):
    """The status cannot change this way (e.g. done -> in_progress without reopening)."""

    def __init__(self, current: Status, wanted: Status) -> None:
        self.current = current
        self.wanted = wanted
        super().__init__(f"a request cannot go from {current.value} to {wanted.value}")


class MissingNote(RequestError):
    """A rejection needs a reason, a "needs information" a question, a reopening a reason."""

    def __init__(self, wanted: Status) -> None:
        self.wanted = wanted
        super().__init__(f"changing a request to {wanted.value} needs a note (reason or question)")


class RequestNotFound(RequestError):
    """No such request (or not this resident's: the same answer, so nothing leaks)."""

    def __init__(self, request_id: int) -> None:
        self.request_id = request_id
        super().__init__(f"request {request_id} not found")


class InvalidPhone(RequestError, ValueError):
    """A phone number that is not a valid Ukrainian number."""


class Status(StrEnum):
    """Where a request is in its life."""

    NEW = "new"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    NEEDS_INFO = "needs_info"
    DONE = "done"
    REJECTED = "rejected"
    REOPENED = "reopened"


_WORK = frozenset({Status.ACCEPTED, Status.IN_PROGRESS, Status.NEEDS_INFO, Status.DONE})
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.NEW: _WORK | {Status.REJECTED},
    Status.ACCEPTED: frozenset(
        {Status.IN_PROGRESS, Status.NEEDS_INFO, Status.REJECTED, Status.DONE}
    ),
    Status.IN_PROGRESS: frozenset({Status.NEEDS_INFO, Status.DONE, Status.REJECTED}),
    Status.NEEDS_INFO: frozenset(
        {Status.ACCEPTED, Status.IN_PROGRESS, Status.REJECTED, Status.DONE}
    ),
    Status.DONE: frozenset({Status.REOPENED}),
    Status.REJECTED: frozenset({Status.REOPENED}),
    Status.REOPENED: _WORK | {Status.REJECTED},
}
"""Allowed status changes; anything else raises ``InvalidTransition``."""

OPEN_STATUSES = frozenset(
    {Status.NEW, Status.ACCEPTED, Status.IN_PROGRESS, Status.NEEDS_INFO, Status.REOPENED}
)
"""Statuses in which someone still owes the resident work (deadlines apply)."""

# Statuses whose change must say why: the resident is told the reason or asked the question.
_NOTE_REQUIRED = frozenset({Status.REJECTED, Status.NEEDS_INFO, Status.REOPENED})


def can_transition(current: Status, wanted: Status) -> bool:
    return wanted in TRANSITIONS[current]


def check_transition(current: Status, wanted: Status, note: str | None) -> None:
    """Raise ``InvalidTransition`` or ``MissingNote`` unless ``current -> wanted`` is allowed."""
    if not can_transition(current, wanted):
        raise InvalidTransition(current, wanted)
    if wanted in _NOTE_REQUIRED and not (note and note.strip()):
        raise MissingNote(wanted)


class Category(StrEnum):
    """What a request is about (the intake buttons, the routing file's keys)."""

    STREET_LIGHTING = "street_lighting"
    SHELTER_CONDITION = "shelter_condition"
    LIGHT_MASKING = "light_masking"
    WATER = "water"
    HEATING = "heating"
    ELECTRICITY = "electricity"
    ROADS_YARDS = "roads_yards"
    WASTE = "waste"
    DAMAGED_HOUSING = "damaged_housing"
    IDP_HOUSING = "idp_housing"
    HUMANITARIAN_AID = "humanitarian_aid"
    OTHER = "other"


CATEGORIES: tuple[Category, ...] = tuple(Category)


class District(StrEnum):
    """Kryvyi Rih's seven city districts."""

    DOVHYNTSIVSKYI = "dovhyntsivskyi"
    INHULETSKYI = "inhuletskyi"
    METALURHIINYI = "metalurhiinyi"
    POKROVSKYI = "pokrovskyi"
    SAKSAHANSKYI = "saksahanskyi"
    TERNIVSKYI = "ternivskyi"
    TSENTRALNO_MISKYI = "tsentralno_miskyi"


DISTRICTS: tuple[District, ...] = tuple(District)

DISTRICT_NAMES_UK: Mapping[District, str] = {
    District.DOVHYNTSIVSKYI: "Довгинцівський",
    District.INHULETSKYI: "Інгулецький",
    District.METALURHIINYI: "Металургійний",
    District.POKROVSKYI: "Покровський",
    District.SAKSAHANSKYI: "Саксаганський",
    District.TERNIVSKYI: "Тернівський",
    District.TSENTRALNO_MISKYI: "Центрально-Міський",
}


class ActorKind(StrEnum):
    """Who changed a request."""

    RESIDENT = "resident"
    OPERATOR = "operator"
    SYSTEM = "system"
    BACK_OFFICE = "back_office"  # a back office through the Open311 API (id = the key's name)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something to a request: a resident (id = resident id), an operator (id = their
    Telegram user id), the system (id = the job's name) or a back office through the Open311 API
    (id = the name of its API key)."""

    kind: ActorKind
    id: str
    name: str | None = None

    @classmethod
    def system(cls, job: str = "bot") -> Actor:
        return cls(ActorKind.SYSTEM, job)

    @classmethod
    def operator(cls, telegram_user_id: int | str, name: str | None = None) -> Actor:
        return cls(ActorKind.OPERATOR, str(telegram_user_id), name)

    @classmethod
    def resident(cls, resident_id: int) -> Actor:
        return cls(ActorKind.RESIDENT, str(resident_id))

    @classmethod
    def back_office(cls, key_name: str) -> Actor:
        return cls(ActorKind.BACK_OFFICE, key_name, key_name)


class EventKind(StrEnum):
    """What a history entry records."""

    CREATED = "created"  # from_status is None, to_status NEW
    STATUS = "status"  # a status change; note = reason / question / comment
    ASSIGNED = "assigned"  # executor changed; note = the new executor's id
    ANSWER = "answer"  # the resident answered a question; note = their answer
    ESCALATED = "escalated"  # a deadline was missed and escalated; note = "ack" or "resolve"
    FOLLOWUP = "followup"  # the resident's "was it done?" answer; note = "yes", "partly", "no"
    RATING = "rating"  # the resident's rating of the work; note = "1" .. "5"


# Entries shown to staff only (a resident's own history leaves them out).
STAFF_ONLY_EVENTS = frozenset({EventKind.ESCALATED})


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One history entry of a request: who, when, from, to, note."""

    id: int
    request_id: int
    event: EventKind
    actor: Actor
    at: datetime
    from_status: Status | None
    to_status: Status
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RequestDraft:
    """What the intake collected; the service turns it into a ``Request``."""

    category: Category
    description: str
    district: District | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    photos: tuple[str, ...] = ()
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """A stored request.

    ``resident`` is the chat the resident filed it from (status updates go there); ``photos``
    are platform references of that channel (Telegram file_id, Viber URL); ``phone`` is E.164.
    ``service_class`` names the routing class that set the deadlines (``urgent``, ``standard``...).
    """

    id: int
    resident_id: int
    resident: UserRef
    category: Category
    district: District | None
    address: str | None
    latitude: float | None
    longitude: float | None
    description: str
    photos: tuple[str, ...]
    phone: str | None
    status: Status
    executor_id: str
    service_class: str
    urgent: bool
    ack_due: datetime
    resolve_due: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    done_at: datetime | None = None

    @property
    def number(self) -> str:
        return format_number(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None


NUMBER_PREFIX = "1520"
_NUMBER_DIGITS = 6
_MAX_ID = 10**12
_DASHES = "-‐‑‒–—―"
_NUMBER = re.compile(rf"^{NUMBER_PREFIX}[{_DASHES}](\d+)$")


def format_number(request_id: int) -> str:
    """``123`` -> ``1520-000123`` (stable: derived from the row id only)."""
    if request_id <= 0:
        raise ValueError(f"request ids are positive, got {request_id}")
    return f"{NUMBER_PREFIX}-{request_id:0{_NUMBER_DIGITS}d}"


def parse_number(text: str) -> int | None:
    """The request id in ``1520-000123``, ``1520 000123``, ``№ 1520-000123``, ``000123``,
    ``123`` or ``1520000123``; None when the text is not a request number."""
    compact = "".join(text.split()).lstrip("№#").removeprefix("No.").removeprefix("N")
    if not compact:
        return None
    digits: str | None = None
    match = _NUMBER.match(compact)
    if match:
        digits = match.group(1)
    elif compact.isascii() and compact.isdigit():
        # Ten digits starting with the prefix are the number typed without its dash.
        if len(compact) == len(NUMBER_PREFIX) + _NUMBER_DIGITS and compact.startswith(
            NUMBER_PREFIX
        ):
            digits = compact[len(NUMBER_PREFIX) :]
        else:
            digits = compact
    elif compact.startswith(NUMBER_PREFIX) and compact[len(NUMBER_PREFIX) :].isdigit():
        digits = compact[len(NUMBER_PREFIX) :]
    if digits is None or not digits.isascii() or len(digits) > 12:
        return None
    value = int(digits)
    return value if 0 < value < _MAX_ID else None


# A request number inside a message: "1520-000123" (any dash, spaces around it) anywhere, or a
# whole message that names a request: "заявка 123", "заявка № 000123", "request #45", "№123".
_NUMBER_ANYWHERE = re.compile(rf"(?<!\d){NUMBER_PREFIX}\s?[{_DASHES}]\s?(\d{{1,9}})(?!\d)")
_NUMBER_NAMED = re.compile(
    r"^\s*(?:(?:моя\s+|my\s+|статус\s+)?(?:заявк\w*|заявочк\w*|звернення|обращени\w*|request|"
    r"ticket)\s*(?:номер\s*|number\s*|no\.?\s*)?[№#]?|[№#])\s*(\d{1,9})\s*[.?!]*\s*$",
    re.IGNORECASE,
)
# Six digits with leading zeros are how the number is printed after the prefix ("000123").
_NUMBER_PADDED = re.compile(rf"^\s*[№#]?\s*(0\d{{{_NUMBER_DIGITS - 1}}})\s*[.?!]*\s*$")


def find_number(text: str, *, whole: bool = False) -> int | None:
    """The request id that ``text`` names, or None.

    ``whole``: only a message that is nothing but a number counts ("1520-000123", "заявка 123",
    "000123"), for steps where a number inside a sentence is that sentence's content. Otherwise
    a full ``1520-…`` number anywhere in the text counts too.
    """
    for pattern in (_NUMBER_NAMED, _NUMBER_PADDED):
        match = pattern.match(text)
        if match:
            return _valid(match.group(1))
    match = _NUMBER_ANYWHERE.search(text)
    if match and (not whole or match.group(0).strip() == text.strip().lstrip("№#").strip()):
        return _valid(match.group(1))
    return None


def _valid(digits: str) -> int | None:
    value = int(digits)
    return value if 0 < value < _MAX_ID else None


_PHONE_JUNK = re.compile(r"[\s()\-.‐‑‒–—]")


def normalize_phone(text: str, *, international: bool = False) -> str:
    """A Ukrainian phone number typed any usual way -> E.164 (``+380671234567``).

    Raises ``InvalidPhone`` for anything that is not a valid Ukrainian number; with
    ``international``, any valid number typed with its country code (``+48 512 345 678``,
    ``0048...``) is accepted too (a resident back from abroad with a foreign SIM).
    """
    raw = _PHONE_JUNK.sub("", text.strip())
    if not raw or len(raw) > 20 or not re.fullmatch(r"\+?\d+", raw):
        raise InvalidPhone("not a phone number")
    if international and raw.startswith("00"):
        raw = "+" + raw[2:]
    if international and raw.startswith("+") and not raw.startswith("+380"):
        try:
            parsed = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException as error:
            raise InvalidPhone("not a phone number") from error
        if not phonenumbers.is_valid_number(parsed):
            raise InvalidPhone("not a valid phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if raw.startswith("+"):
        candidate = raw
    elif raw.startswith("380"):
        candidate = "+" + raw
    elif raw.startswith("80") and len(raw) == 11:
        candidate = "+3" + raw  # the old long-distance form 8 0XX ...
    elif raw.startswith("0"):
        candidate = "+38" + raw
    else:
        raise InvalidPhone("not a Ukrainian phone number")
    try:
        parsed = phonenumbers.parse(candidate, "UA")
    except phonenumbers.NumberParseException as error:
        raise InvalidPhone("not a phone number") from error
    if parsed.country_code != 380 or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid Ukrainian phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
