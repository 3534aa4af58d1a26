"""A fake Viber REST API served over real HTTP, and builders of signed Viber-shaped callbacks.

``FakeViberServer`` listens on 127.0.0.1 (a free port); point ``ViberClient(base_url=...)`` at
``server.base_url``. It checks ``X-Viber-Auth-Token`` like Viber (a wrong token is HTTP 200 with
status 2), validates message shapes (status 3 badData), records every call, and plays queued
faults. The callback builders produce the JSON Viber posts to a webhook, shaped as documented.
It also serves media downloads (``GET /media/<name>``, what a picture's ``media`` URL points
at on Viber's CDN): ``server.media_url()`` is a tiny valid JPEG; ``add_media`` serves others.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

__all__ = [
    "DEFAULT_TOKEN",
    "TINY_JPEG",
    "FakeViberServer",
    "Fault",
    "RecordedCall",
    "conversation_started_callback",
    "delivered_callback",
    "failed_callback",
    "message_callback",
    "seen_callback",
    "signed_callback",
    "subscribed_callback",
    "unsubscribed_callback",
    "viber_user_json",
    "webhook_callback",
]

DEFAULT_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"
CHAT_HOSTNAME = "SN-CHAT-05_"
TIMESTAMP = 1764072000000  # 2025-11-25 12:00 UTC in milliseconds

# Limits the fake enforces, as Viber documents them.
TEXT_LIMIT = 7000
SENDER_NAME_LIMIT = 28
BUTTON_TEXT_LIMIT = 250
KEYBOARD_ROWS_LIMIT = 24
BROADCAST_LIMIT = 300
ACTION_TYPES = {"reply", "open-url", "location-picker", "share-phone", "none"}
API_LEVEL_3_ACTIONS = {"location-picker", "share-phone"}
MESSAGE_TYPES = {"text", "picture", "video", "file", "location", "contact", "sticker", "url"}
MESSAGE_TYPES |= {"rich_media"}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request the fake received and the Viber ``status`` it answered (None: HTTP fault)."""

    endpoint: str
    auth_token: str | None
    body: Any
    status: int | None


@dataclass(frozen=True, slots=True)
class Fault:
    """How the fake answers the next call instead of serving it.

    ``status`` non-zero: HTTP 200 with that Viber status. ``http_status`` other than 200: that
    HTTP status (with ``retry_after`` as a ``Retry-After`` header). ``hang``: no answer until
    the server closes, so the client's timeout fires.
    """

    status: int = 0
    status_message: str = "fault"
    http_status: int = 200
    retry_after: str | None = None
    hang: bool = False


class _BadData(Exception):
    """A message the real Viber would refuse with status 3."""


# A valid 1x1 JPEG (632 bytes): what a resident's picture download gives by default.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4"
    "UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAABAAEDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcI"
    "CQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
    "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ip"
    "qrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAA"
    "AAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLR"
    "ChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaX"
    "mJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEA"
    "PwDHooorhPqD/9k="
)


class FakeViberServer:
    """A Viber REST API stand-in for tests; use ``async with FakeViberServer() as viber``."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, account_name: str = "Контакт-центр 1520"):
        self.token = token
        self.account_name = account_name
        self.calls: list[RecordedCall] = []
        self.webhook_url: str | None = None
        self.event_types: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}
        self._unsubscribed: set[str] = set()
        self._faults: deque[Fault] = deque()
        self._message_tokens = itertools.count(5741311803571721087)
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        # name -> (bytes, declared content type) served at GET /media/<name>; the names asked.
        self.media: dict[str, tuple[bytes, str]] = {"photo.jpg": (TINY_JPEG, "image/jpeg")}
        self.media_requests: list[str] = []

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> Self:
        app = web.Application()
        for endpoint in (
            "send_message",
            "broadcast_message",
            "set_webhook",
            "get_account_info",
            "get_user_details",
        ):
            app.router.add_post(f"/pa/{endpoint}", self._endpoint(endpoint))
        app.router.add_get("/media/{name}", self._serve_media)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}/pa"
        return self

    async def close(self) -> None:
        self._release.set()  # let hanging answers finish so the runner can stop
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("FakeViberServer is not started")
        return self._base_url

    # --- test controls -------------------------------------------------------------------

    def media_url(self, name: str = "photo.jpg") -> str:
        """The download URL of a served file, shaped like Viber's (a query string, which the
        callback builder's thumbnail URL extends)."""
        origin = self.base_url.removesuffix("/pa")
        return f"{origin}/media/{name}?dlid=test-{name}"

    def add_media(self, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
        """Serve ``data`` at ``media_url(name)`` (the declared type is not checked: a lying
        header is part of what a test may want); returns that URL."""
        self.media[name] = (data, content_type)
        return self.media_url(name)

    async def _serve_media(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.media_requests.append(name)
        found = self.media.get(name)
        if found is None:
            return web.Response(status=404, text="expired")
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each one answers one upcoming call, in order."""
        self._faults.extend(faults)

    def unsubscribe(self, user_id: str) -> None:
        """From now on sending to ``user_id`` answers status 6 (receiverNotSubscribed)."""
        self._unsubscribed.add(user_id)

    def subscribe(self, user_id: str) -> None:
        self._unsubscribed.discard(user_id)

    def add_user(self, user_id: str, name: str = "Олена", language: str = "uk") -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=test",
            "country": "UA",
            "language": language,
            "primary_device_os": "Android 14",
            "api_version": 10,
            "viber_version": "24.8.0.0",
            "mcc": 255,
            "mnc": 1,
            "device_type": "Pixel 8",
        }

    def calls_to(self, endpoint: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.endpoint == endpoint]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Bodies of the ``send_message`` calls that Viber would have accepted."""
        return [call.body for call in self.calls_to("send_message") if call.status == 0]

    def sent_to(self, user_id: str) -> list[dict[str, Any]]:
        return [body for body in self.sent if body.get("receiver") == user_id]

    # --- HTTP ------------------------------------------------------------------------------

    def _endpoint(self, endpoint: str) -> Any:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await self._serve(endpoint, request)

        return serve

    async def _serve(self, endpoint: str, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("X-Viber-Auth-Token")
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if self._faults:
            fault = self._faults.popleft()
            self.calls.append(RecordedCall(endpoint, auth, body, fault.status or None))
            return await self._fault(fault)
        if auth != self.token:
            return self._answer(endpoint, auth, body, 2, "invalidAuthToken")
        if not isinstance(body, dict):
            return self._answer(endpoint, auth, body, 3, "badData: body is not a JSON object")
        try:
            match endpoint:
                case "send_message":
                    return self._send_message(auth, body)
                case "broadcast_message":
                    return self._broadcast_message(auth, body)
                case "set_webhook":
                    return self._set_webhook(auth, body)
                case "get_account_info":
                    return self._get_account_info(auth, body)
                case _:
                    return self._get_user_details(auth, body)
        except _BadData as exc:
            return self._answer(endpoint, auth, body, 3, f"badData: {exc}")

    async def _fault(self, fault: Fault) -> web.StreamResponse:
        if fault.hang:
            await self._release.wait()
            return web.Response(status=503)
        if fault.http_status != 200:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.Response(status=fault.http_status, text="fault", headers=headers)
        return web.json_response({"status": fault.status, "status_message": fault.status_message})

    def _answer(
        self,
        endpoint: str,
        auth: str | None,
        body: Any,
        status: int,
        status_message: str,
        **extra: Any,
    ) -> web.Response:
        self.calls.append(RecordedCall(endpoint, auth, body, status))
        return web.json_response({"status": status, "status_message": status_message, **extra})

    def _send_message(self, auth: str | None, body: dict[str, Any]) -> web.Response:
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            raise _BadData("receiver is required")
        _check_message(body)
        if receiver in self._unsubscribed:
            return self._answer("send_message", auth, body, 6, "receiverNotSubscribed")
        return self._answer(
            "send_message",
            auth,
            body,
            0,
            "ok",
            message_token=next(self._message_tokens),
            chat_hostname=CHAT_HOSTNAME,
            billing_status=1,
        )

    def _broadcast_message(self, auth: str | None, body: dict[str, Any]) -> web.Response:
        receivers = body.get("broadcast_list")
        if not isinstance(receivers, list) or not receivers or len(receivers) > BROADCAST_LIMIT:
            raise _BadData("broadcast_list must hold 1-300 user ids")
        _check_message(body)
        failed = [
            {"receiver": receiver, "status": 6, "status_message": "Not subscribed"}
            for receiver in receivers
            if receiver in self._unsubscribed
        ]
        return self._answer(
            "broadcast_message",
            auth,
            body,
            0,
            "ok",
            message_token=next(self._message_tokens),
            failed_list=failed,
        )

    def _set_webhook(self, auth: str | None, body: dict[str, Any]) -> web.Response:
        url = body.get("url")
        if not isinstance(url, str):
            raise _BadData("url is required")
        if url and not url.startswith("https://"):
            return self._answer("set_webhook", auth, body, 1, "invalidUrl")
        event_types = body.get("event_types")
        self.webhook_url = url or None
        self.event_types = (
            list(event_types)
            if isinstance(event_types, list)
            else [
                "delivered",
                "seen",
                "failed",
                "subscribed",
                "unsubscribed",
                "conversation_started",
            ]
        )
        return self._answer("set_webhook", auth, body, 0, "ok", event_types=self.event_types)

    def _get_account_info(self, auth: str | None, body: dict[str, Any]) -> web.Response:
        return self._answer(
            "get_account_info",
            auth,
            body,
            0,
            "ok",
            id="pa:75346594275468546724",
            name=self.account_name,
            uri="kryvyirih1520",
            icon="https://example.com/icon.png",
            background="https://example.com/background.png",
            category="Government",
            subcategory="City services",
            location={"lon": 33.3918, "lat": 47.9105},
            country="UA",
            webhook=self.webhook_url or "",
            event_types=self.event_types,
            subscribers_count=len(self.users),
            members=[],
        )

    def _get_user_details(self, auth: str | None, body: dict[str, Any]) -> web.Response:
        user_id = body.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise _BadData("id is required")
        user = self.users.get(user_id)
        if user is None:
            return self._answer("get_user_details", auth, body, 5, "receiverNotRegistered")
        return self._answer(
            "get_user_details",
            auth,
            body,
            0,
            "ok",
            message_token=next(self._message_tokens),
            user=user,
        )


def _check_message(body: Mapping[str, Any]) -> None:
    """Raise ``_BadData`` for a message the real Viber would refuse."""
    sender = body.get("sender")
    if not isinstance(sender, dict):
        raise _BadData("sender is required")
    name = sender.get("name")
    if not isinstance(name, str) or not name or len(name) > SENDER_NAME_LIMIT:
        raise _BadData("sender.name is required, at most 28 characters")
    if "avatar" in sender and not isinstance(sender["avatar"], str):
        raise _BadData("sender.avatar must be a URL")
    tracking = body.get("tracking_data")
    if tracking is not None and (not isinstance(tracking, str) or len(tracking) > 4096):
        raise _BadData("tracking_data must be a string of at most 4096 characters")
    kind = body.get("type")
    keyboard = body.get("keyboard")
    if kind is None:
        if keyboard is None:
            raise _BadData("type is required")
    elif kind not in MESSAGE_TYPES:
        raise _BadData(f"unknown message type {kind!r}")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_LIMIT:
            raise _BadData("text must hold 1-7000 characters")
    if kind == "picture":
        media = body.get("media")
        if not isinstance(media, str) or not media.startswith(("http://", "https://")):
            raise _BadData("picture media must be a URL")
        if not isinstance(body.get("text", ""), str) or len(body.get("text", "")) > 768:
            raise _BadData("picture text must hold at most 768 characters")
    if kind == "location":
        _check_location(body.get("location"))
    if keyboard is not None:
        _check_keyboard(keyboard, body.get("min_api_version"))


def _check_location(location: Any) -> None:
    if not isinstance(location, dict):
        raise _BadData("location is required")
    lat, lon = location.get("lat"), location.get("lon")
    for value, bound in ((lat, 90), (lon, 180)):
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound:
            raise _BadData("location needs lat and lon in range")


def _check_keyboard(keyboard: Any, min_api_version: Any) -> None:
    if not isinstance(keyboard, dict) or keyboard.get("Type") != "keyboard":
        raise _BadData('keyboard needs "Type": "keyboard"')
    buttons = keyboard.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        raise _BadData("keyboard needs Buttons")
    rows = 0
    free = 0  # columns left in the current row
    for button in buttons:
        if not isinstance(button, dict):
            raise _BadData("a button must be an object")
        columns, height = button.get("Columns", 6), button.get("Rows", 1)
        if not isinstance(columns, int) or not 1 <= columns <= 6:
            raise _BadData("button Columns must be 1-6")
        if not isinstance(height, int) or not 1 <= height <= 2:
            raise _BadData("button Rows must be 1-2")
        action = button.get("ActionType", "reply")
        if action not in ACTION_TYPES:
            raise _BadData(f"unknown ActionType {action!r}")
        body = button.get("ActionBody")
        if action in {"reply", "open-url"} and (not isinstance(body, str) or not body):
            raise _BadData("reply and open-url buttons need an ActionBody")
        text = button.get("Text", "")
        if not isinstance(text, str) or len(text) > BUTTON_TEXT_LIMIT:
            raise _BadData("button Text must hold at most 250 characters")
        if action in API_LEVEL_3_ACTIONS and (
            not isinstance(min_api_version, int) or min_api_version < 3
        ):
            raise _BadData(f"{action} buttons need min_api_version 3")
        if columns > free:
            rows += height
            free = 6
        free -= columns
    if rows > KEYBOARD_ROWS_LIMIT:
        raise _BadData(f"a keyboard holds at most 24 rows, got {rows}")


# --- callbacks ---------------------------------------------------------------------------

_callback_tokens = itertools.count(4912661846655238145)


def _next_token() -> int:
    return next(_callback_tokens)


def signed_callback(
    body: Mapping[str, Any], token: str = DEFAULT_TOKEN
) -> tuple[bytes, dict[str, str]]:
    """The raw bytes of ``body`` and the headers Viber sends with it, signature included."""
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    signature = hmac.new(token.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Viber-Content-Signature": signature, "Content-Type": "application/json"}


def viber_user_json(
    user_id: str,
    *,
    name: str | None = "Олена",
    language: str = "uk",
    country: str = "UA",
    api_version: int = 10,
) -> dict[str, Any]:
    """The ``sender`` / ``user`` object of a callback."""
    user: dict[str, Any] = {
        "id": user_id,
        "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=test",
        "language": language,
        "country": country,
        "api_version": api_version,
    }
    if name is not None:  # Viber leaves the name out unless the webhook asked send_name
        user["name"] = name
    return user


def message_callback(
    user_id: str,
    *,
    text: str | None = None,
    token: int | None = None,
    location: tuple[float, float] | None = None,
    contact: str | None = None,
    contact_name: str | None = "Олена",
    picture: str | None = None,
    caption: str = "",
    message: Mapping[str, Any] | None = None,
    tracking_data: str | None = None,
    name: str | None = "Олена",
    language: str = "uk",
) -> dict[str, Any]:
    """A ``message`` callback; ``token`` is its ``message_token`` (a fresh one by default).

    Exactly one of ``text``, ``location`` (lat, lon), ``contact`` (a phone number),
    ``picture`` (a media URL) or ``message`` (any message object) describes the content.
    """
    content: dict[str, Any]
    if message is not None:
        content = dict(message)
    elif location is not None:
        content = {
            "type": "location",
            "location": {"lat": location[0], "lon": location[1]},
            "text": "",
        }
    elif contact is not None:
        card: dict[str, Any] = {"phone_number": contact}
        if contact_name is not None:
            card["name"] = contact_name
        content = {"type": "contact", "contact": card}
    elif picture is not None:
        content = {
            "type": "picture",
            "media": picture,
            "thumbnail": picture + "&thumb=1",
            "file_name": "photo.jpg",
            "size": 123456,
            "text": caption,
        }
    else:
        content = {"type": "text", "text": text if text is not None else "Привіт"}
    if tracking_data is not None:
        content["tracking_data"] = tracking_data
    return {
        "event": "message",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": token if token is not None else _next_token(),
        "sender": viber_user_json(user_id, name=name, language=language),
        "message": content,
        "silent": False,
    }


def conversation_started_callback(
    user_id: str,
    *,
    context: str | None = None,
    subscribed: bool = False,
    name: str | None = "Олена",
    language: str = "uk",
) -> dict[str, Any]:
    """A ``conversation_started`` callback: the person opened the chat."""
    body: dict[str, Any] = {
        "event": "conversation_started",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": _next_token(),
        "type": "open",
        "user": viber_user_json(user_id, name=name, language=language),
        "subscribed": subscribed,
    }
    if context is not None:
        body["context"] = context
    return body


def subscribed_callback(user_id: str, *, name: str | None = "Олена") -> dict[str, Any]:
    return {
        "event": "subscribed",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "user": viber_user_json(user_id, name=name),
        "message_token": _next_token(),
    }


def unsubscribed_callback(user_id: str) -> dict[str, Any]:
    return {
        "event": "unsubscribed",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "user_id": user_id,
        "message_token": _next_token(),
    }


def delivered_callback(message_token: int, user_id: str) -> dict[str, Any]:
    return {
        "event": "delivered",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": message_token,
        "user_id": user_id,
    }


def seen_callback(message_token: int, user_id: str) -> dict[str, Any]:
    return {**delivered_callback(message_token, user_id), "event": "seen"}


def failed_callback(message_token: int, user_id: str, desc: str = "failure") -> dict[str, Any]:
    return {**delivered_callback(message_token, user_id), "event": "failed", "desc": desc}


def webhook_callback() -> dict[str, Any]:
    """What Viber posts to the URL while ``set_webhook`` runs."""
    return {
        "event": "webhook",
        "timestamp": TIMESTAMP,
        "chat_hostname": CHAT_HOSTNAME,
        "message_token": _next_token(),
    }
