"""Builds the aiogram Bot and Dispatcher and runs them by long polling or behind a webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import FormData, web
from aiohttp.payload import BytesPayload, Payload
from pydantic import ValidationError

from bot.telegram import residents

logger = logging.getLogger(__name__)

TELEGRAM_WEBHOOK_PATH = "/telegram"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


def create_bot(token: str, api_url: str, *, timeout: float = 30.0) -> Bot:
    session = JsonAiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    session.middleware(PinResponseModels())
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


class JsonBody(FormData):
    """A request body sent as ``application/json`` (aiohttp asks a FormData for its payload)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__()
        self.fields = fields

    def __call__(self) -> Payload:
        return BytesPayload(
            json.dumps(self.fields, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
        )


class JsonAiohttpSession(AiohttpSession):
    """aiogram's session, sending calls without files as JSON rather than url-encoded forms.

    The Bot API takes both. aiohttp url-encodes a form with ``urllib.parse.quote_plus``, which
    walks every byte of non-ASCII text in Python: a long Ukrainian answer costs ~0.1 ms a
    message that way (7% of the bot's CPU under webhook load, py-spy); ``json.dumps`` is C.
    Calls that upload a file (a chart, an export) stay multipart, built by aiogram.
    """

    def build_form_data(self, bot: Bot, method: TelegramMethod[TelegramType]) -> FormData:
        files: dict[str, InputFile] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            # Nested objects stay objects and numbers stay numbers, as the Bot API documents
            # JSON requests; what aiogram's form leaves out (None, "") is left out here too.
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":
                fields[key] = prepared
        if files:
            return super().build_form_data(bot, method)
        return JsonBody(fields)


class PinResponseModels(BaseRequestMiddleware):
    """Keeps aiogram's ``Response[...]`` model of each method we call alive.

    aiogram parses every answer with ``Response[method.__returning__]``, a pydantic generic
    model that pydantic caches only weakly: once the garbage collector frees it, the next call
    builds it again (a millisecond or more of schema building). Measured under load with
    py-spy, that rebuilding was 4% of the bot's CPU. One strong reference per method fixes it.
    """

    def __init__(self) -> None:
        self._pinned: dict[type[Any], object] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        kind = type(method)
        if kind not in self._pinned:
            self._pinned[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)


def get_routers(*extra: Router) -> list[Router]:
    """Fresh routers for every dispatcher (staff routers first: they filter by chat)."""
    return [*extra, residents.create_router()]


def create_dispatcher(routers: list[Router], **workflow_data: Any) -> Dispatcher:
    # Conversation state lives in our storage (handlers.conversation), not in aiogram's FSM:
    # without it no FSM context is built for every update.
    dispatcher = Dispatcher(disable_fsm=True, **workflow_data)
    dispatcher.include_routers(*routers)
    return dispatcher


def webhook_secret(token: str) -> str:
    """A stable secret for X-Telegram-Bot-Api-Secret-Token derived from the bot token."""
    return hashlib.sha256(("webhook:" + token).encode()).hexdigest()[:48]


async def run_polling(bot: Bot, dispatcher: Dispatcher) -> None:
    """Long polling that confirms an update (the next ``getUpdates`` offset) only after it was
    processed and committed: updates are handled one after another, not as background tasks
    (replies are sent in the background, so one update costs milliseconds)."""
    await bot.delete_webhook(drop_pending_updates=False)
    await dispatcher.start_polling(
        bot,
        handle_signals=False,
        close_bot_session=False,
        allowed_updates=ALLOWED_UPDATES,
        handle_as_tasks=False,
    )


class SafeRequestHandler(SimpleRequestHandler):
    """aiogram's webhook handler, answering only once an update is safe, and a bad request
    with 400/401 instead of a 500.

    The update is processed before the answer (``handle_in_background=False``): Telegram never
    sends again an update it got 200 for, so a 200 given before the update is committed loses
    it in a crash (measured: 16 of 400 residents never answered after a SIGKILL mid-burst).
    The resident's replies are committed with it and sent after the answer (bot.telegram.
    residents); an error while processing is a 500 and Telegram delivers the update again.

    aiogram compares the secret with ``secrets.compare_digest`` on ``str`` (a TypeError, so a
    500, for a non-ASCII header) and parses the body with ``request.json()`` (a 500 for a body
    that is not JSON). Telegram never sends either; a scanner or an attacker does.
    """

    def __init__(self, dispatcher: Dispatcher, bot: Bot, *, secret_token: str) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret_token)

    async def close(self) -> None:
        """Nothing: the composition root closes the Bot's session once the replies of the last
        updates are sent (aiogram would close it when the server shuts down, before them)."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        if not self.secret_token:
            return True
        return hmac.compare_digest(
            telegram_secret_token.encode("utf-8", "surrogateescape"),
            self.secret_token.encode("utf-8"),
        )

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), bot):
            return web.Response(body="Unauthorized", status=401)
        try:
            update = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(body="Bad Request: not JSON", status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(body="Bad Request: not an update", status=400)
        # Checked here, not while processing: a 500 for an update no retry can mend would make
        # Telegram send it again and again.
        try:
            parsed = Update.model_validate(update, context={"bot": bot})
        except ValidationError:
            return web.Response(body="Bad Request: not an update", status=400)
        try:
            parsed.event_type  # noqa: B018 - raises for a kind of update this aiogram does not know
        except UpdateTypeLookupError:
            logger.info("update %s of an unknown kind ignored", parsed.update_id)
            return web.json_response({})
        return await super().handle(request)  # aiohttp keeps the body it has read


async def setup_webhook(
    app: web.Application, bot: Bot, dispatcher: Dispatcher, *, base_url: str, token: str
) -> None:
    secret = webhook_secret(token)
    SafeRequestHandler(dispatcher, bot, secret_token=secret).register(
        app, path=TELEGRAM_WEBHOOK_PATH
    )
    await bot.set_webhook(
        base_url + TELEGRAM_WEBHOOK_PATH, secret_token=secret, allowed_updates=ALLOWED_UPDATES
    )
    logger.info("telegram webhook set at %s%s", base_url, TELEGRAM_WEBHOOK_PATH)
