"""Telegram's sending limits for the outbox worker: a Bot whose every send waits for its slot.

The worker gets its own ``Bot`` (its own HTTP session) with ``PacingMiddleware``, so each Bot API
call that delivers a message — a reply may take several (long text, a photo, a location) — goes
through the shared ``ChatRateLimiter``. Conversation replies use the other Bot and are not paced:
an answer to a resident who just wrote must not queue behind a broadcast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods.base import TelegramType

from bot.telegram.runtime import create_bot
from domain.identity import ChannelName, UserRef
from notifications.limits import ChatRateLimiter

if TYPE_CHECKING:
    from aiogram.methods import Response, TelegramMethod

__all__ = ["PacingMiddleware", "create_paced_bot", "is_paced_method"]

# Methods that deliver a message (what Telegram's flood limits count); chat actions, edits and
# callback answers are not paced.
_UNPACED_SENDS = frozenset({"sendChatAction"})
_OTHER_SENDS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})


def is_paced_method(api_method: str) -> bool:
    if api_method in _UNPACED_SENDS:
        return False
    return api_method.startswith("send") or api_method in _OTHER_SENDS


class PacingMiddleware(BaseRequestMiddleware):
    """Holds each send until the limiter gives its chat (and the bot) a slot."""

    def __init__(self, limiter: ChatRateLimiter) -> None:
        self.limiter = limiter

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        if chat_id is None or not is_paced_method(method.__api_method__):
            return await make_request(bot, method)
        chat = UserRef(ChannelName.TELEGRAM, str(chat_id))
        async with self.limiter.slot(chat):
            return await make_request(bot, method)


def create_paced_bot(
    token: str, api_url: str, limiter: ChatRateLimiter, *, timeout: float = 20.0
) -> Bot:
    """A Bot for the outbox worker whose sends are paced by ``limiter``."""
    bot = create_bot(token, api_url, timeout=timeout)
    bot.session.middleware(PacingMiddleware(limiter))
    return bot
