"""An asyncio client for the Viber REST bot API that raises the channel-neutral delivery errors.

Not viberbot's ``Api``: its ``ApiRequestSender`` posts with ``requests``, synchronously and
without a timeout, which would stall the whole event loop for as long as Viber takes to answer,
and it raises a bare ``Exception`` for every refusal. So sending goes through this client: the
``X-Viber-Auth-Token`` header, a JSON body (built by viberbot's message classes, see
``render.py``), a timeout on every call, and a non-zero ``status`` turned into the
channel-neutral delivery errors even though Viber answers it with HTTP 200.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.viber.errors import ViberApiError, ViberRecipientBlocked
from bot.viber.status import Outcome, outcome_of, status_name
from domain.channel import RetryAfter, TemporaryFailure

__all__ = ["AUTH_HEADER", "DEFAULT_RETRY_AFTER", "VIBER_API_URL", "ViberClient"]

logger = logging.getLogger(__name__)

VIBER_API_URL = "https://chatapi.viber.com/pa"
AUTH_HEADER = "X-Viber-Auth-Token"
# Viber's tooManyRequests carries no delay; this is the pause we ask the caller to take.
DEFAULT_RETRY_AFTER = 5.0
MAX_RETRY_AFTER = 3600.0
SENDER_NAME_LIMIT = 28


class _ViberAnswer(BaseModel):
    """The envelope of every Viber REST answer; the rest depends on the endpoint."""

    model_config = ConfigDict(extra="allow")

    status: int
    status_message: str = ""
    message_token: int | str | None = None


class ViberClient:
    """Calls the Viber REST API; one instance per bot token, shared by the whole process.

    ``sender_name`` (cut to 28 characters) and ``sender_avatar`` fill the ``sender`` field
    Viber requires on every message, unless the message brings its own. A session passed in is
    the caller's to close; otherwise the client opens one on first use and ``close()`` ends it.
    """

    def __init__(
        self,
        token: str,
        *,
        sender_name: str | None = None,
        sender_avatar: str | None = None,
        base_url: str = VIBER_API_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10,
        default_retry_after: float = DEFAULT_RETRY_AFTER,
    ) -> None:
        if not token:
            raise ValueError("a Viber token is required")
        self._token = token
        self._sender: dict[str, str] | None = None
        if sender_name:
            self._sender = {"name": sender_name[:SENDER_NAME_LIMIT]}
            if sender_avatar:
                self._sender["avatar"] = sender_avatar
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._default_retry_after = default_retry_after

    def __repr__(self) -> str:
        return f"ViberClient(base_url={self._base_url!r})"  # never the token

    @property
    def base_url(self) -> str:
        return self._base_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session this client opened (a session passed in is left open)."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    async def send_message(self, receiver: str, message: Mapping[str, Any]) -> str:
        """Send one message to a subscribed user; returns Viber's ``message_token``."""
        payload: dict[str, Any] = dict(message)
        payload["receiver"] = receiver
        if "sender" not in payload:
            if self._sender is None:
                raise ValueError("a Viber message needs a sender; pass sender_name")
            payload["sender"] = dict(self._sender)
        answer = await self._call("send_message", payload)
        if answer.message_token is None:
            # Accepted: retrying would duplicate it, so report success without a token.
            logger.warning("viber send_message to %s returned no message_token", receiver)
            return ""
        return str(answer.message_token)

    async def set_webhook(
        self,
        url: str,
        event_types: Sequence[str] | None = None,
        *,
        send_name: bool = True,
        send_photo: bool = False,
    ) -> list[str]:
        """Point Viber at ``url``; Viber checks it with a ``webhook`` callback before answering.

        Returns the event types Viber will send. ``send_name`` asks Viber to include the
        person's name in callbacks (it is omitted otherwise).
        """
        payload: dict[str, Any] = {"url": url, "send_name": send_name, "send_photo": send_photo}
        if event_types is not None:
            payload["event_types"] = list(event_types)
        answer = await self._call("set_webhook", payload)
        extra = answer.model_extra or {}
        event_types_back = extra.get("event_types")
        if isinstance(event_types_back, list):
            return [str(item) for item in event_types_back]
        return []

    async def remove_webhook(self) -> None:
        """Stop callbacks (Viber's way: ``set_webhook`` with an empty URL)."""
        await self._call("set_webhook", {"url": ""})

    async def get_account_info(self) -> dict[str, Any]:
        """The bot account's details (name, uri, webhook, subscribers_count, ...)."""
        answer = await self._call("get_account_info", {})
        return answer.model_dump()

    async def get_user_details(self, user_id: str) -> dict[str, Any]:
        """A subscriber's ``user`` object. Viber allows few of these calls per user per day."""
        answer = await self._call("get_user_details", {"id": user_id})
        user = (answer.model_extra or {}).get("user")
        return dict(user) if isinstance(user, dict) else {}

    async def download(self, url: str, *, max_bytes: int, time_limit: float = 10) -> bytes:
        """The bytes at ``url`` (a picture's ``media`` URL), read in chunks and refused with
        ``ValueError`` as soon as they pass ``max_bytes`` (whatever Content-Length says). The
        auth token is not sent: media URLs are Viber's CDN, not its API. Network failures and
        timeouts are ``TemporaryFailure``; an HTTP error status is ``ValueError``."""
        if not url.startswith(("https://", "http://")):
            raise ValueError("not a web address")
        session = await self._session_for_call()
        try:
            async with session.get(
                url, timeout=aiohttp.ClientTimeout(total=time_limit), allow_redirects=True
            ) as response:
                if response.status != 200:
                    raise ValueError(f"HTTP {response.status}")
                if response.content_length is not None and response.content_length > max_bytes:
                    raise ValueError(f"{response.content_length} bytes announced")
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise ValueError(f"more than {max_bytes} bytes")
        except TimeoutError as exc:
            raise TemporaryFailure("media download timed out") from exc
        except aiohttp.ClientError as exc:
            raise TemporaryFailure(f"media download: {type(exc).__name__}") from exc
        return bytes(data)

    async def _session_for_call(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise TemporaryFailure("the aiohttp session given to ViberClient is closed")
            self._session = aiohttp.ClientSession()
        return self._session

    async def _call(self, endpoint: str, payload: Mapping[str, Any]) -> _ViberAnswer:
        session = await self._session_for_call()
        url = f"{self._base_url}/{endpoint}"
        try:
            async with session.post(
                url, json=payload, headers={AUTH_HEADER: self._token}, timeout=self._timeout
            ) as response:
                if response.status == 429:
                    delay = self._retry_after(response.headers.get("Retry-After"))
                    logger.warning("viber %s: HTTP 429, retry after %g s", endpoint, delay)
                    raise RetryAfter(delay)
                if response.status >= 500 or response.status == 408:
                    logger.warning("viber %s: HTTP %d", endpoint, response.status)
                    raise TemporaryFailure(f"viber {endpoint}: HTTP {response.status}")
                if response.status >= 400:
                    logger.error("viber %s: HTTP %d", endpoint, response.status)
                    raise ViberApiError(
                        endpoint, None, f"http{response.status}", response.reason or ""
                    )
                raw = await response.read()
        except TimeoutError as exc:
            logger.warning("viber %s: timed out", endpoint)
            raise TemporaryFailure(f"viber {endpoint}: timed out") from exc
        except aiohttp.ClientError as exc:
            logger.warning("viber %s: %s", endpoint, type(exc).__name__)
            raise TemporaryFailure(f"viber {endpoint}: {type(exc).__name__}") from exc
        try:
            answer = _ViberAnswer.model_validate_json(raw)
        except ValidationError as exc:
            # A proxy or an outage page rather than Viber itself: worth another try.
            logger.warning("viber %s: the answer is not a Viber status object", endpoint)
            raise TemporaryFailure(f"viber {endpoint}: unexpected answer") from exc
        return self._check(endpoint, answer)

    def _check(self, endpoint: str, answer: _ViberAnswer) -> _ViberAnswer:
        outcome = outcome_of(answer.status)
        if outcome is Outcome.OK:
            return answer
        name = status_name(answer.status)
        if outcome is Outcome.RETRY_AFTER:
            logger.warning("viber %s: status %d %s", endpoint, answer.status, name)
            raise RetryAfter(self._default_retry_after)
        if outcome is Outcome.RECIPIENT_BLOCKED:
            logger.info("viber %s: status %d %s", endpoint, answer.status, name)
            raise ViberRecipientBlocked(endpoint, answer.status, name)
        logger.error("viber %s: status %d %s", endpoint, answer.status, name)
        raise ViberApiError(endpoint, answer.status, name, answer.status_message)

    def _retry_after(self, header: str | None) -> float:
        """Seconds from a ``Retry-After`` header; an HTTP date or garbage gets the default."""
        if header is not None:
            try:
                seconds = float(header.strip())
            except ValueError:
                seconds = -1.0
            if 0 <= seconds <= MAX_RETRY_AFTER:
                return seconds
        return self._default_retry_after
