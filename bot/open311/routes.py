"""The Open311 endpoints: each checks the key (``Access``), parses its parameters with
``services.open311_params``, runs one transaction through ``services.open311`` and writes the
answer with ``bot.open311.formats``. Writes are audited, refused ones too."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from bot.open311.formats import (
    definition_document,
    list_response,
    services_document,
)
from domain.clock import Clock
from domain.media import MEDIA_PREFIX, MediaStore, is_media_ref
from services.open311 import Open311Service, View
from services.open311_keys import ApiKeys
from services.open311_limits import KeyRateLimiter
from services.open311_params import (
    Open311Error,
    parse_draft,
    parse_request_filters,
    parse_request_id,
    parse_update,
    parse_update_filters,
)
from storage.base import Storage, StoreSession
from storage.open311 import ApiKey, ApiScope

__all__ = ["Open311Routes"]

logger = logging.getLogger(__name__)

KEY_HEADER = "X-Api-Key"
_IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


def _flat(values: MultiMapping[Any]) -> dict[str, str]:
    """The first text value of each name (file parts of a multipart form are ignored)."""
    flat: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, str) and name not in flat:
            flat[name] = value
    return flat


class Open311Routes:
    """The handlers, over the service, the key store, the rate limiter and the kept photos."""

    def __init__(
        self,
        service: Open311Service,
        keys: ApiKeys,
        storage: Storage,
        limiter: KeyRateLimiter,
        *,
        media: MediaStore | None = None,
        public_url: str | None = None,
    ) -> None:
        self.service = service
        self.keys = keys
        self.storage = storage
        self.limiter = limiter
        self.media = media
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock: Clock = service.clock
        # Called after a write commits (the composition root wakes the delivery worker).
        self.wake: Callable[[], None] | None = None

    def add_to(self, app: web.Application, prefix: str) -> None:
        fmt = "{fmt:json|xml}"
        app.router.add_get(f"{prefix}/services.{fmt}", self.services)
        app.router.add_get(f"{prefix}/services/{{code:[^/]+?}}.{fmt}", self.definition)
        app.router.add_get(f"{prefix}/requests.{fmt}", self.list_requests)
        app.router.add_post(f"{prefix}/requests.{fmt}", self.create_request)
        app.router.add_get(f"{prefix}/requests/{{id:[^/]+?}}.{fmt}", self.one_request)
        app.router.add_get(f"{prefix}/servicerequestupdates.{fmt}", self.list_updates)
        app.router.add_post(f"{prefix}/servicerequestupdates.{fmt}", self.post_update)
        app.router.add_get(f"{prefix}/media/{{name}}", self.photo)

    # --- access ----------------------------------------------------------------------------

    async def _key(self, request: web.Request, form: Mapping[str, str] | None = None) -> ApiKey:
        text = request.headers.get(KEY_HEADER) or request.query.get("api_key")
        if not text and form is not None:
            text = form.get("api_key")
        if not text:
            raise Open311Error(401, "an api_key is required (X-Api-Key header or api_key)")
        async with self.storage.transaction() as session:
            key = await self.keys.check(session, text)
        if key is None:
            raise Open311Error(403, "the api_key is not valid")
        wait = self.limiter.take(key.name)
        if wait > 0:
            raise Open311Error(
                429, "too many calls with this api_key: slow down", retry_after=math.ceil(wait)
            )
        return key

    async def _form(self, request: web.Request) -> dict[str, str]:
        if request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            try:
                return _flat(await request.post())
            except (ValueError, UnicodeDecodeError, AssertionError) as error:
                # A multipart body without its boundary, a broken part: not a form.
                raise Open311Error(400, "the body is not a valid form") from error
        if request.can_read_body and request.content_type not in {"", "application/octet-stream"}:
            raise Open311Error(
                400, "send the parameters as application/x-www-form-urlencoded (or multipart)"
            )
        await request.read()  # an empty or unlabelled body: only its size is checked
        return {}

    def _media_base(self, request: web.Request) -> str:
        return self.public_url or f"{request.scheme}://{request.host}"

    # --- services --------------------------------------------------------------------------

    async def services(self, request: web.Request) -> web.Response:
        await self._key(request)
        return services_document(request.match_info["fmt"], self.service.catalog)

    async def definition(self, request: web.Request) -> web.Response:
        await self._key(request)
        service = self.service.service(request.match_info["code"])
        return definition_document(request.match_info["fmt"], service)

    # --- requests --------------------------------------------------------------------------

    async def list_requests(self, request: web.Request) -> web.Response:
        await self._key(request)
        filters = parse_request_filters(
            _flat(request.query), tz=self.clock.tz, now=self.clock.now()
        )
        async with self.storage.snapshot() as session:
            views = await self.service.find(session, filters, media_base=self._media_base(request))
        return list_response(
            request.match_info["fmt"], views, root="service_requests", item="request"
        )

    async def one_request(self, request: web.Request) -> web.Response:
        await self._key(request)
        request_id = parse_request_id(request.match_info["id"])
        async with self.storage.snapshot() as session:
            view = await self.service.get(session, request_id, media_base=self._media_base(request))
        return list_response(
            request.match_info["fmt"], [view], root="service_requests", item="request"
        )

    async def create_request(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        key = await self._key(request, form)

        async def create(session: StoreSession) -> tuple[View, str]:
            draft = parse_draft(form)
            view = await self.service.create(session, key, draft)
            return view, f"created {view['service_request_id']}"

        view = await self._write(request, key, create)
        return list_response(
            request.match_info["fmt"], [view], root="service_requests", item="request"
        )

    # --- updates ---------------------------------------------------------------------------

    async def list_updates(self, request: web.Request) -> web.Response:
        await self._key(request)
        filters = parse_update_filters(_flat(request.query), tz=self.clock.tz, now=self.clock.now())
        async with self.storage.snapshot() as session:
            views = await self.service.updates(session, filters)
        return list_response(
            request.match_info["fmt"],
            views,
            root="service_request_updates",
            item="request_update",
        )

    async def post_update(self, request: web.Request) -> web.Response:
        form = await self._form(request)
        key = await self._key(request, form)

        async def apply(session: StoreSession) -> tuple[View, str]:
            update = parse_update(form, tz=self.clock.tz, now=self.clock.now())
            view, changed = await self.service.post_update(session, key, update)
            verb = "applied" if changed else "repeated (nothing changed)"
            return view, f"update {update.update_id} {verb} on {view['service_request_id']}"

        view = await self._write(request, key, apply)
        return list_response(
            request.match_info["fmt"],
            [view],
            root="service_request_updates",
            item="request_update",
        )

    async def _write(
        self,
        request: web.Request,
        key: ApiKey,
        action: Callable[[StoreSession], Awaitable[tuple[View, str]]],
    ) -> View:
        """Run a write with write scope, audited in its own transaction (a refusal is audited
        in a transaction of its own, the write having changed nothing)."""
        try:
            if key.scope is not ApiScope.WRITE:
                raise Open311Error(403, "this api_key may only read (write scope needed)")
            async with self.storage.transaction() as session:
                view, subject = await action(session)
                await self.service.audit(
                    session, key, method=request.method, path=request.path, status=200,
                    subject=subject,
                )  # fmt: skip
        except Open311Error as error:
            async with self.storage.transaction() as session:
                await self.service.audit(
                    session,
                    key,
                    method=request.method,
                    path=request.path,
                    status=error.status,
                    subject=f"refused: {error.description}",
                )
            raise
        logger.info("open311 write by key %s: %s", key.name, subject)
        if self.wake is not None:
            self.wake()
        return view

    # --- photos ----------------------------------------------------------------------------

    async def photo(self, request: web.Request) -> web.StreamResponse:
        await self._key(request)
        name = request.match_info["name"]
        ref = MEDIA_PREFIX + name
        path = self.media.path_of(ref) if self.media is not None and is_media_ref(ref) else None
        if path is not None:
            async with self.storage.snapshot() as session:
                allowed = await self.service.photo_allowed(session, ref)
            path = path if allowed else None
        if path is None:
            raise Open311Error(404, "no such photo")
        extension = name.rsplit(".", 1)[-1]
        return web.FileResponse(path, headers={"Content-Type": _IMAGE_TYPES[extension]})
