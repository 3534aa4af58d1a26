"""The Open311 GeoReport v2 API's logic: another adapter over the same request service.

``bot.open311`` parses HTTP and writes JSON or XML; everything else is here, in the caller's
transaction: requests filed through ``RequestService.create`` (validation, routing, deadline,
the staff card, the number) for a resident that stands for the API key, requests and their
status changes read back with the privacy rules applied, and updates from a back office applied
through ``RequestService.change_status`` (exactly what an operator's button does: history, the
resident told, the follow-up after "done") once per ``update_id``.

Privacy (wartime): no response carries a resident's phone or name; locations (coordinates and
address) and photos of ``SENSITIVE_LOCATIONS`` categories are omitted (a photo of a damaged
house shows where a strike hit as surely as its coordinates); a kept photo is served only when
a request it belongs to may show it; every text a person wrote is
HTML-escaped, as the cards are escaped for Telegram, and stripped of control characters.
Views are plain ordered dicts of Open311 field names to str, float, bool or lists of them.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.identity import ChannelName, UserRef
from domain.media import MEDIA_PREFIX, is_media_ref
from domain.requests import (
    OPEN_STATUSES,
    Actor,
    EventKind,
    InvalidPhone,
    InvalidTransition,
    MissingNote,
    Request,
    RequestDraft,
    RequestError,
    RequestNotFound,
    Status,
    StatusChange,
    format_number,
)
from services.cards import format_local
from services.open311_catalog import SENSITIVE_LOCATIONS, ServiceInfo, service_catalog
from services.open311_params import (
    MAX_UPDATES,
    IncomingUpdate,
    Open311Error,
    RequestFilters,
    UpdateFilters,
)
from services.requests import RequestService
from storage.base import StoreSession
from storage.open311 import ApiKey, AuditEntry, PostedUpdate, RequestQuery, UpdateRecord

__all__ = ["MEDIA_PATH", "Open311Service", "View", "clean"]

logger = logging.getLogger(__name__)

View = dict[str, Any]
MEDIA_PATH = "/open311/v2/media/"

# mySociety's servicerequestupdates statuses <-> ours.
_OUT_STATUS = {
    Status.NEW: "OPEN",
    Status.ACCEPTED: "ACTION_SCHEDULED",
    Status.IN_PROGRESS: "IN_PROGRESS",
    Status.NEEDS_INFO: "INVESTIGATING",
    Status.REOPENED: "OPEN",
    Status.DONE: "FIXED",
    Status.REJECTED: "NO_FURTHER_ACTION",
}
_IN_STATUS = {
    "ACTION_SCHEDULED": Status.ACCEPTED,
    "INVESTIGATING": Status.ACCEPTED,
    "IN_PROGRESS": Status.IN_PROGRESS,
    "FIXED": Status.DONE,
    "CLOSED": Status.DONE,
    "NO_FURTHER_ACTION": Status.REJECTED,
    "NOT_COUNCILS_RESPONSIBILITY": Status.REJECTED,
    "DUPLICATE": Status.REJECTED,
    "INTERNAL_REFERRAL": Status.REJECTED,
    **{status.value.upper(): status for status in Status if status is not Status.NEW},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str) -> str:
    """What a person wrote, safe to show: control characters dropped (XML cannot carry them),
    then HTML-escaped as the cards are for Telegram."""
    return html.escape(_CONTROL.sub("", text), quote=True)


def open311_status(status: Status) -> str:
    return "open" if status in OPEN_STATUSES else "closed"


class Open311Service:
    """The API's operations (see the module docstring); ``tz`` and the clock are the requests
    service's."""

    def __init__(self, requests: RequestService) -> None:
        self.requests = requests
        self.clock = requests.clock
        self.catalog: tuple[ServiceInfo, ...] = service_catalog(requests.routing, requests.texts)
        self._by_code = {service.code: service for service in self.catalog}

    # --- services --------------------------------------------------------------------------

    def service(self, code: str) -> ServiceInfo:
        found = self._by_code.get(code)
        if found is None:
            raise Open311Error(404, f"unknown service_code {code[:64]!r}")
        return found

    # --- requests --------------------------------------------------------------------------

    async def create(self, session: StoreSession, key: ApiKey, draft: RequestDraft) -> View:
        """File ``draft`` as the bot does; the resident is the key (nothing is ever sent to it:
        it is marked blocked, so neither status messages nor follow-ups are queued for it)."""
        now = self.clock.now()
        resident = await session.residents.touch(
            UserRef(ChannelName.OPEN311, key.name), now=now, display_name=None
        )
        await session.residents.set_blocked(resident.id, True)
        try:
            request = await self.requests.create(session, resident, draft)
        except InvalidPhone as error:
            raise Open311Error(400, "phone is not a valid phone number") from error
        except RequestError as error:
            raise Open311Error(400, str(error)) from error
        executor = self.requests.routing.executors.get(request.executor_id)
        notice = (
            f"Заявку {request.number} прийнято"
            + (f" і передано: {executor.name}" if executor else "")
            + f". Взяти в роботу до {format_local(request.ack_due, self.clock.tz)},"
            f" виконати до {format_local(request.resolve_due, self.clock.tz)}."
        )
        return {
            "service_request_id": request.number,
            "service_notice": clean(notice),
            "account_id": clean(key.name),
        }

    async def find(
        self, session: StoreSession, filters: RequestFilters, *, media_base: str
    ) -> list[View]:
        query = RequestQuery(
            ids=filters.ids,
            categories=filters.categories,
            created_from=filters.start,
            created_until=filters.end,
            statuses=filters.statuses,
            limit=filters.page_size,
            offset=(filters.page - 1) * filters.page_size,
        )
        views = []
        for request_id in await session.open311.request_ids(query):
            request = await session.requests.get(request_id)
            if request is not None:
                views.append(await self._request_view(session, request, media_base))
        return views

    async def get(self, session: StoreSession, request_id: int, *, media_base: str) -> View:
        request = await session.requests.get(request_id)
        if request is None:
            raise Open311Error(404, "no such service request")
        return await self._request_view(session, request, media_base)

    async def _request_view(self, session: StoreSession, request: Request, base: str) -> View:
        history = await session.requests.history(request.id)
        tz = self.clock.tz
        executor = self.requests.routing.executors.get(request.executor_id)
        service = self._by_code.get(request.category.value)
        view: View = {
            "service_request_id": request.number,
            "status": open311_status(request.status),
        }
        notes = _latest_note(history)
        if notes:
            view["status_notes"] = clean(notes)
        view["service_name"] = service.name if service else request.category.value
        view["service_code"] = request.category.value
        view["description"] = clean(request.description)
        view["agency_responsible"] = clean(executor.name if executor else request.executor_id)
        view["requested_datetime"] = _stamp(request.created_at, tz)
        view["updated_datetime"] = _stamp(request.updated_at, tz)
        if request.is_open:
            view["expected_datetime"] = _stamp(request.resolve_due, tz)
        if request.category not in SENSITIVE_LOCATIONS:
            if request.address:
                view["address"] = clean(request.address)
            if request.latitude is not None and request.longitude is not None:
                view["lat"] = request.latitude
                view["long"] = request.longitude
        if request.category not in SENSITIVE_LOCATIONS:
            media = _media_url(request.photos, base)
            if media:
                view["media_url"] = media
        return view

    async def photo_allowed(self, session: StoreSession, ref: str) -> bool:
        """Whether the kept photo ``ref`` belongs to a request whose photos the API shows."""
        for request_id in await session.open311.requests_with_photo(ref):
            request = await session.requests.get(request_id)
            if request is not None and request.category not in SENSITIVE_LOCATIONS:
                return True
        return False

    # --- updates ---------------------------------------------------------------------------

    async def updates(self, session: StoreSession, filters: UpdateFilters) -> list[View]:
        records = await session.open311.status_updates(
            start=filters.start, end=filters.end, limit=MAX_UPDATES
        )
        return [self._update_view(record) for record in records]

    def _update_view(self, record: UpdateRecord) -> View:
        change = record.change
        view: View = {
            "update_id": clean(record.posted_update_id or f"h{change.id}"),
            "service_request_id": format_number(change.request_id),
            "status": _OUT_STATUS[change.to_status],
            "external_status_code": change.to_status.value,
            "updated_datetime": _stamp(change.at, self.clock.tz),
        }
        if change.note:
            view["description"] = clean(change.note)
        return view

    async def post_update(
        self, session: StoreSession, key: ApiKey, update: IncomingUpdate
    ) -> tuple[View, bool]:
        """Apply ``update`` as an operator's button would; (the update, whether it changed
        anything). The same ``update_id`` again returns the first result and changes nothing."""
        # The request is locked before ``update_id`` is looked up: the same update posted to
        # two instances at once (a back office retrying) is applied by the first, and the
        # second, waiting here, then finds it and answers with the first's result instead of
        # applying it again or refusing a change to the status it already has.
        try:
            request: Request | None = await self.requests.lock(session, update.request_id)
        except RequestNotFound:
            request = None
        posted = await session.open311.posted_update(update.update_id)
        if posted is not None:
            if posted.request_id != update.request_id:
                raise Open311Error(400, "update_id was already used for another service request")
            return await self._posted_view(session, posted), False
        if request is None:
            raise Open311Error(404, "no such service request")
        wanted = _wanted_status(update.status, request.status)
        if wanted is request.status:
            raise Open311Error(400, f"the request is already {request.status.value}")
        try:
            await self.requests.change_status(
                session,
                request.id,
                wanted,
                Actor.back_office(key.name),
                note=update.description,
            )
        except MissingNote as error:
            raise Open311Error(
                400, f"a change to {wanted.value} needs a description (a reason or a question)"
            ) from error
        except InvalidTransition as error:
            raise Open311Error(
                400,
                f"a request cannot go from {error.current.value} to {error.wanted.value}",
            ) from error
        history = await session.requests.history(request.id)
        change = history[-1]
        await session.open311.remember_update(
            PostedUpdate(update.update_id, request.id, change.id, key.name, self.clock.now())
        )
        return self._update_view(UpdateRecord(change, update.update_id)), True

    async def _posted_view(self, session: StoreSession, posted: PostedUpdate) -> View:
        history = await session.requests.history(posted.request_id)
        change = next((entry for entry in history if entry.id == posted.history_id), None)
        if change is None:  # the history cannot lose an entry; be safe anyway
            raise Open311Error(404, "no such update")
        return self._update_view(UpdateRecord(change, posted.update_id))

    # --- the audit log ---------------------------------------------------------------------

    async def audit(
        self,
        session: StoreSession,
        key: ApiKey,
        *,
        method: str,
        path: str,
        status: int,
        subject: str,
    ) -> None:
        """Record a write (who, when, what); ``subject`` names no person."""
        await session.open311.record_write(
            AuditEntry(
                key_name=key.name,
                at=self.clock.now(),
                method=method,
                path=path[:200],
                status=status,
                subject=subject[:300],
            )
        )


def _wanted_status(raw: str, current: Status) -> Status:
    text = raw.strip().upper()
    if text == "OPEN":
        return Status.REOPENED if current not in OPEN_STATUSES else Status.ACCEPTED
    found = _IN_STATUS.get(text)
    if found is None:
        known = ", ".join(sorted({"OPEN", *_IN_STATUS}))
        raise Open311Error(400, f"unknown status {raw[:40]!r} (known: {known})")
    return found


def _latest_note(history: Sequence[StatusChange]) -> str | None:
    for entry in reversed(history):
        if entry.event is EventKind.STATUS:
            return entry.note
    return None


def _stamp(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def _media_url(photos: Sequence[str], base: str) -> str | None:
    """The first photo the API can serve or point at: a kept photo (served under
    ``MEDIA_PATH``) or an http(s) URL; platform file ids are not URLs and are left out."""
    for ref in photos:
        if is_media_ref(ref):
            return f"{base}{MEDIA_PATH}{ref.removeprefix(MEDIA_PREFIX)}"
        if ref.startswith(("https://", "http://")):
            return clean(ref)
    return None
