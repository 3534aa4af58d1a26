"""The Open311 API's own records: API keys, the audit log of writes, and posted update ids.

Every method runs inside the caller's transaction (``StoreSession.open311``). Keys are stored
as a hash only (``services.open311_keys`` makes and checks them); the audit log says who wrote
what and when, never a resident's personal data; a posted update's ``update_id`` is kept with
the history entry it made, so the same update posted again changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.requests import Category, Status, StatusChange

__all__ = [
    "ApiKey",
    "ApiScope",
    "AuditEntry",
    "KeyNameTaken",
    "Open311Store",
    "PostedUpdate",
    "RequestQuery",
    "UpdateRecord",
]


class ApiScope(StrEnum):
    """What a key may do: ``read`` (every GET), ``write`` (GET and POST)."""

    READ = "read"
    WRITE = "write"


class KeyNameTaken(Exception):
    """An API key with this name exists already (names identify keys in the audit log)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (its hash only)."""

    id: int
    name: str
    scope: ApiScope
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One write through the API: who (the key), when, what (method, path, outcome, subject)."""

    key_name: str
    at: datetime
    method: str
    path: str
    status: int
    subject: str  # a request number, an update id, or the reason it was refused
    id: int = 0


@dataclass(frozen=True, slots=True)
class PostedUpdate:
    """An update posted through ``servicerequestupdates``: its id and what it changed."""

    update_id: str
    request_id: int
    history_id: int
    key_name: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RequestQuery:
    """The filters of ``GET requests``: ids, categories, creation window, statuses, a page."""

    ids: Collection[int] | None = None
    categories: Collection[Category] | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None
    statuses: Collection[Status] | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """A status change of a request as the API lists it: the history entry, and the
    ``update_id`` a back office gave it when it came through the API (else None)."""

    change: StatusChange
    posted_update_id: str | None


class Open311Store(Protocol):
    """API keys, the audit log, posted updates, and the API's queries over requests."""

    async def create_key(
        self, name: str, scope: ApiScope, key_hash: str, *, now: datetime
    ) -> ApiKey:
        """Store a new key (its hash only); ``KeyNameTaken`` when the name is used."""
        ...

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not (the caller checks ``active``)."""
        ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        ...

    async def revoke_key(self, name: str, *, now: datetime) -> bool:
        """Revoke the active key named ``name``; False when there is none."""
        ...

    async def record_write(self, entry: AuditEntry) -> None:
        """Append to the audit log."""
        ...

    async def audit_log(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries first."""
        ...

    async def posted_update(self, update_id: str) -> PostedUpdate | None: ...

    async def remember_update(self, update: PostedUpdate) -> bool:
        """Record a posted update; False when its ``update_id`` is known already."""
        ...

    async def requests_with_photo(self, ref: str) -> list[int]:
        """Ids of the requests that have the photo ``ref`` (a kept photo can be shared)."""
        ...

    async def request_ids(self, query: RequestQuery) -> list[int]:
        """Ids of the requests matching ``query``, newest first, one page of them."""
        ...

    async def status_updates(
        self, *, start: datetime, end: datetime, limit: int
    ) -> list[UpdateRecord]:
        """Status changes (history entries of kind ``status``) made in ``[start, end)``, oldest
        first, at most ``limit``."""
        ...
