"""The requests contract: request rows, their history and photos.

Every method runs inside the caller's transaction (``StoreSession.requests``). The store keeps
rows; rules (transitions, deadlines, who may see what) live in ``services.requests``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.identity import UserRef
from domain.requests import (
    Actor,
    Category,
    District,
    EventKind,
    Request,
    Status,
    StatusChange,
)


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request to insert; the store assigns the id (and so the number)."""

    resident_id: int
    resident: UserRef
    category: Category
    description: str
    executor_id: str
    service_class: str
    urgent: bool
    ack_due: datetime
    resolve_due: datetime
    created_at: datetime
    district: District | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    photos: tuple[str, ...] = ()
    phone: str | None = None
    status: Status = Status.NEW


@dataclass(frozen=True, slots=True)
class NewStatusChange:
    """A history entry to append."""

    request_id: int
    event: EventKind
    actor: Actor
    at: datetime
    from_status: Status | None
    to_status: Status
    note: str | None = None


class RequestStore(Protocol):
    """Requests, their history and photos."""

    async def create(self, new: NewRequest) -> Request:
        """Insert the request and its photos; return it with its id."""
        ...

    async def get(self, request_id: int) -> Request | None: ...

    async def lock(self, request_id: int) -> Request | None:
        """The request, read to be changed: no other transaction changes it until this one
        ends (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite: a plain read, its one writer at a
        time already keeps the read and the write together)."""
        ...

    async def get_for_resident(self, resident_id: int, request_id: int) -> Request | None:
        """The request only if it belongs to ``resident_id`` (None otherwise)."""
        ...

    async def list_for_resident(
        self,
        resident_id: int,
        *,
        limit: int = 20,
        statuses: Collection[Status] | None = None,
    ) -> list[Request]:
        """The resident's requests, newest first, optionally only in ``statuses``."""
        ...

    async def find_by_phone(self, phone: str, *, limit: int = 20) -> list[Request]:
        """Requests with this E.164 phone, newest first."""
        ...

    async def update(self, request: Request) -> None:
        """Write the mutable fields of ``request`` (status, executor, class, urgency, deadlines,
        timestamps) by its id."""
        ...

    async def add_photos(self, request_id: int, refs: Collection[str]) -> None:
        """Append photos after the existing ones."""
        ...

    async def add_history(self, entry: NewStatusChange) -> StatusChange: ...

    async def history(self, request_id: int) -> list[StatusChange]:
        """History entries, oldest first."""
        ...

    async def overdue_acknowledgement(self, *, now: datetime, limit: int = 100) -> list[Request]:
        """Requests still ``new`` or ``reopened`` whose ``ack_due`` is at or before ``now``,
        earliest deadline first."""
        ...

    async def overdue_resolution(self, *, now: datetime, limit: int = 100) -> list[Request]:
        """Open requests (not done or rejected) whose ``resolve_due`` is at or before ``now``,
        earliest deadline first."""
        ...

    async def by_status(
        self,
        statuses: Collection[Status],
        *,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[Request]:
        """Requests in ``statuses`` with id greater than ``after_id``, by id (for paging)."""
        ...

    async def done_between(self, start: datetime, end: datetime) -> list[Request]:
        """Requests now ``done`` whose ``done_at`` is in ``[start, end)``, by ``done_at``."""
        ...

    async def created_between(self, start: datetime, end: datetime) -> list[Request]:
        """Requests created in ``[start, end)``, by id (statistics, digests)."""
        ...

    async def count_by_status(self) -> dict[Status, int]:
        """How many requests are in each status (every status present, zero if none)."""
        ...

    async def erase_personal_data(self, resident_id: int, *, now: datetime) -> int:
        """Blank the resident's address, location, phone, photos and description in all of their
        requests (statistics keep category, district, status and times); return how many."""
        ...
