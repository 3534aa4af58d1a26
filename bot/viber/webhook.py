"""The Viber callback endpoint on an aiohttp application (shared with the Telegram webhook).

Every callback is checked against ``X-Viber-Content-Signature`` before anything is parsed.
Viber retries an unanswered or failed callback for an hour and never one it got 200 for, so a
callback is answered 200 only once it is safe: a message is processed and committed, its replies
included (``Conversation.process``), subscription and delivery events are recorded, and only
then is the answer sent; the replies go out after it, in the background (``deliver``). A
message the database could not take gets 503 and comes again. Per person, callbacks are
processed one at a time in arrival order. A failure of our own (a bug) is logged and answered
200: the same callback again would fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from aiohttp import web

from bot.viber.callbacks import (
    ConversationStartedEvent,
    DeliveredEvent,
    FailedEvent,
    MessageEvent,
    SeenEvent,
    SubscribedEvent,
    UnknownEvent,
    UnsubscribedEvent,
    WebhookEvent,
    parse_callback,
    to_incoming,
    viber_user,
)
from bot.viber.channel import ViberChannel
from bot.viber.errors import ViberCallbackError
from bot.viber.render import MORE_PAYLOAD
from bot.viber.signature import SIGNATURE_HEADER, verify
from domain.channel import DeliveryError
from domain.identity import UserRef
from domain.messages import Handled, Incoming, Kind, Reply

__all__ = [
    "VIBER_WEBHOOK",
    "Deliver",
    "Handle",
    "KeepPhoto",
    "OnDelivery",
    "OnSubscription",
    "ViberWebhook",
    "Welcome",
    "build_viber_app",
    "setup_viber",
]

logger = logging.getLogger(__name__)

# The conversation: ``Conversation.process`` (replies committed with the message), or any
# function returning replies (tests, tools).
Handle = Callable[[Incoming], Awaitable[Handled | Sequence[Reply]]]
# Sends a handled message's replies after the answer, without waiting (notifications.replies).
Deliver = Callable[[UserRef, Handled], None]
OnSubscription = Callable[[UserRef, bool], Awaitable[None]]
OnDelivery = Callable[[str, str], Awaitable[None]]
Welcome = Callable[[UserRef, str | None], Awaitable[Sequence[Reply]]]
# Who sent a picture and its URL -> the reference to keep (``PhotoKeeper.keep``: a ``media:``
# file, or the URL).
KeepPhoto = Callable[[UserRef, str], Awaitable[str]]

DUPLICATE_WINDOW = 300.0  # seconds a message_token is remembered in memory
DUPLICATE_LIMIT = 50_000  # tokens remembered at most
WELCOME_TIMEOUT = 5.0  # Viber waits for the conversation_started answer; do not make it wait long
SHUTDOWN_GRACE = 10.0  # seconds in-flight processing may finish before it is cancelled


class ViberWebhook:
    """Answers Viber callbacks and runs their processing; one per bot token."""

    def __init__(
        self,
        *,
        token: str,
        handle: Handle,
        channel: ViberChannel,
        on_subscription: OnSubscription | None = None,
        on_delivery: OnDelivery | None = None,
        welcome: Welcome | None = None,
        deliver: Deliver | None = None,
        keep_photo: KeepPhoto | None = None,
        duplicate_window: float = DUPLICATE_WINDOW,
        welcome_timeout: float = WELCOME_TIMEOUT,
        shutdown_grace: float = SHUTDOWN_GRACE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token:
            raise ValueError("a Viber token is required to check callback signatures")
        self._token = token
        self._handle = handle
        self._channel = channel
        self._on_subscription = on_subscription
        self._on_delivery = on_delivery
        self._welcome = welcome
        self._deliver = deliver
        self._keep_photo = keep_photo
        self._duplicate_window = duplicate_window
        self._welcome_timeout = welcome_timeout
        self._shutdown_grace = shutdown_grace
        self._monotonic = monotonic
        # Per instance on purpose (issue 14). The tokens are a fast path only: a redelivery
        # Viber sends to another instance is still found by its update key
        # (``viber:<message_token>`` in the shared ``processed_updates``, remembered in the
        # message's own transaction under the resident's lock). The per-user locks keep this
        # process's callbacks of one person in order; across instances the resident's lock in
        # the database does (``StoreSession.lock_resident``).
        self._recent_tokens: OrderedDict[str, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __repr__(self) -> str:
        return f"ViberWebhook(pending={len(self._tasks)})"  # never the token

    @property
    def pending(self) -> int:
        """How many callbacks are still being processed."""
        return len(self._tasks)

    async def on_callback(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for ``POST <path>``."""
        body = await request.read()
        # Our own constant-time check, not viberbot's Api.verify_signature (it compares with ==).
        if not verify(body, self._token, request.headers.get(SIGNATURE_HEADER)):
            logger.warning("viber callback rejected: missing or wrong signature")
            return web.Response(status=403, text="bad signature")
        try:
            # Validated by our models, then parsed by viberbot's create_request; either one's
            # refusal is a ViberCallbackError, so a malformed callback is a 400, never a 500.
            event = parse_callback(body)
        except ViberCallbackError as exc:
            logger.warning("viber callback rejected: %s", exc)
            return web.Response(status=400, text="malformed callback")
        match event:
            case MessageEvent():
                if not await self._accept_message(event):
                    return web.Response(status=503, text="busy, send again")
            case ConversationStartedEvent():
                return await self._conversation_started(event)
            case SubscribedEvent() | UnsubscribedEvent():
                await self._accept_subscription(event)
            case DeliveredEvent() | SeenEvent() | FailedEvent():
                await self._accept_delivery(event)
            case WebhookEvent():
                logger.info("viber webhook check received")
            case UnknownEvent():
                logger.info("viber event %r ignored", event.event[:40])
        return web.Response(status=200)

    async def drain(self) -> None:
        """Wait until every accepted callback has been processed (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Let in-flight processing finish for a grace period, then cancel what is left."""
        if not self._tasks:
            return
        _, still_running = await asyncio.wait(set(self._tasks), timeout=self._shutdown_grace)
        for task in still_running:
            task.cancel()
        if still_running:
            logger.warning("viber: %d callbacks cancelled at shutdown", len(still_running))
            await asyncio.gather(*still_running, return_exceptions=True)

    async def _accept_message(self, event: MessageEvent) -> bool:
        """Process a message before it is answered; False when it must come again."""
        if self._is_duplicate(event.message_token):
            logger.info("viber message %s redelivered; dropped", event.message_token)
            return True
        incoming = to_incoming(event)
        if incoming is None:  # pragma: no cover - every message event maps to an Incoming
            return True
        committed = True

        async def work() -> None:
            nonlocal committed
            committed = await self._process(incoming)

        await self._run(incoming.user.user_id, work, incoming.update_key)
        if not committed:
            self._recent_tokens.pop(event.message_token, None)  # its redelivery is wanted
        return committed

    async def _process(self, incoming: Incoming) -> bool:
        if incoming.kind is Kind.BUTTON and incoming.payload == MORE_PAYLOAD:
            # The next keyboard page is the channel's own memory: nothing to commit.
            self._spawn(incoming.user.user_id, lambda: self._more(incoming), "more")
            return True
        incoming = await self._kept(incoming)
        result = await self._handle(incoming)
        handled = result if isinstance(result, Handled) else Handled(list(result))
        if not handled.committed:
            return False
        if self._deliver is not None:
            self._deliver(incoming.user, handled)
        elif handled.replies:
            replies = handled.replies
            self._spawn(
                incoming.user.user_id,
                lambda: self._channel.send(incoming.user, replies),
                incoming.update_key,
            )
        return True

    async def _kept(self, incoming: Incoming) -> Incoming:
        """A picture downloaded and kept before the conversation sees it (``bot.viber.media``):
        outside its transaction, while Viber's URL still works; on failure the URL stays."""
        photo = incoming.photo
        if self._keep_photo is None or incoming.kind is not Kind.PHOTO or photo is None:
            return incoming
        ref = await self._keep_photo(incoming.user, photo.ref)
        if ref == photo.ref:
            return incoming
        return replace(incoming, photo=replace(photo, ref=ref))

    async def _more(self, incoming: Incoming) -> None:
        if not await self._channel.show_next_keyboard_page(incoming.user):
            result = await self._handle(incoming)
            handled = result if isinstance(result, Handled) else Handled(list(result))
            if self._deliver is not None:
                self._deliver(incoming.user, handled)
            elif handled.replies:
                await self._channel.send(incoming.user, handled.replies)

    async def _conversation_started(self, event: ConversationStartedEvent) -> web.StreamResponse:
        if self._welcome is None:
            return web.Response(status=200)
        user = viber_user(event.user.id)
        try:
            replies = await asyncio.wait_for(
                self._welcome(user, event.context), timeout=self._welcome_timeout
            )
            message = self._channel.welcome_message(user, replies)
        except TimeoutError:
            logger.warning("viber welcome for %s took too long; answered without it", user)
            return web.Response(status=200)
        except Exception:
            logger.exception("viber welcome for %s failed; answered without it", user)
            return web.Response(status=200)
        if message is None:
            return web.Response(status=200)
        return web.json_response(message)

    async def _accept_subscription(self, event: SubscribedEvent | UnsubscribedEvent) -> None:
        on_subscription = self._on_subscription
        if on_subscription is None:
            return
        if isinstance(event, SubscribedEvent):
            user, subscribed = viber_user(event.user.id), True
        else:
            user, subscribed = viber_user(event.user_id), False
        await self._run(user.user_id, lambda: on_subscription(user, subscribed), event.event)

    async def _accept_delivery(self, event: DeliveredEvent | SeenEvent | FailedEvent) -> None:
        on_delivery = self._on_delivery
        if on_delivery is None:
            return
        key = event.user_id or f"token:{event.message_token}"
        await self._run(key, lambda: on_delivery(event.message_token, event.event), event.event)

    def _is_duplicate(self, token: str) -> bool:
        now = self._monotonic()
        recent = self._recent_tokens
        while recent:
            oldest, seen_at = next(iter(recent.items()))
            if now - seen_at < self._duplicate_window and len(recent) < DUPLICATE_LIMIT:
                break
            del recent[oldest]
        if token in recent:
            return True
        recent[token] = now
        return False

    def _spawn(self, user_id: str, work: Callable[[], Awaitable[object]], what: str | None) -> None:
        task = asyncio.create_task(self._run(user_id, work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self, user_id: str, work: Callable[[], Awaitable[object]], what: str | None
    ) -> None:
        """One callback's processing, after the earlier ones of the same person."""
        lock, users = self._user_locks.get(user_id, (asyncio.Lock(), 0))
        self._user_locks[user_id] = (lock, users + 1)
        try:
            async with lock:
                await work()
        except DeliveryError as exc:
            logger.warning("viber %s for %s not delivered: %s", what, user_id, type(exc).__name__)
        except Exception:
            logger.exception("viber %s for %s failed", what, user_id)
        finally:
            lock, users = self._user_locks[user_id]
            if users <= 1:
                del self._user_locks[user_id]
            else:
                self._user_locks[user_id] = (lock, users - 1)


VIBER_WEBHOOK = web.AppKey("viber_webhook", ViberWebhook)


async def _close_webhook(app: web.Application) -> None:
    await app[VIBER_WEBHOOK].close()


def setup_viber(
    app: web.Application,
    *,
    token: str,
    handle: Handle,
    channel: ViberChannel,
    on_subscription: OnSubscription | None = None,
    on_delivery: OnDelivery | None = None,
    welcome: Welcome | None = None,
    deliver: Deliver | None = None,
    keep_photo: KeepPhoto | None = None,
    path: str = "/viber",
) -> ViberWebhook:
    """Add the Viber callback route at ``path`` to ``app`` and close it on shutdown.

    The webhook is stored under ``app[VIBER_WEBHOOK]``. Register the URL with
    ``ViberClient.set_webhook`` only after the server is listening: Viber calls it to check.
    """
    if VIBER_WEBHOOK in app:
        raise RuntimeError("setup_viber was already called for this application")
    webhook = ViberWebhook(
        token=token,
        handle=handle,
        channel=channel,
        on_subscription=on_subscription,
        on_delivery=on_delivery,
        welcome=welcome,
        deliver=deliver,
        keep_photo=keep_photo,
    )
    app[VIBER_WEBHOOK] = webhook
    app.router.add_post(path, webhook.on_callback)
    app.on_shutdown.append(_close_webhook)
    return webhook


def build_viber_app(
    *,
    token: str,
    handle: Handle,
    channel: ViberChannel,
    on_subscription: OnSubscription | None = None,
    on_delivery: OnDelivery | None = None,
    welcome: Welcome | None = None,
    deliver: Deliver | None = None,
    path: str = "/viber",
) -> web.Application:
    """A new application serving only the Viber callbacks (see ``setup_viber``)."""
    app = web.Application()
    setup_viber(
        app,
        token=token,
        handle=handle,
        channel=channel,
        on_subscription=on_subscription,
        on_delivery=on_delivery,
        welcome=welcome,
        deliver=deliver,
        path=path,
    )
    return app
