"""Cheap router filters for the paths every update takes.

aiogram runs a filter that is not a coroutine function, a magic filter such as
``F.chat.type == "private"`` included, through ``asyncio.to_thread`` (``CallableObject.call``):
a thread hand-off and a fight for the GIL for a comparison that takes a microsecond. With a few
such filters on the routers every message passes, that was a measurable share of the bot's CPU
under load (py-spy, ``python -m bench --only webhook``). These async filters do the same checks
on the event loop.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Chat, Message

from domain.payloads import parse

__all__ = ["CommandText", "InChats", "PayloadAction", "PrivateChat", "event_chat"]


def event_chat(event: Message | CallbackQuery) -> Chat | None:
    """The chat of a message, or of the message a button was pressed under."""
    if isinstance(event, Message):
        return event.chat
    # A callback from an inline message has no message; an old one is "inaccessible" but
    # still names its chat.
    return event.message.chat if event.message is not None else None


class PrivateChat(Filter):
    """A message in, or a button pressed under a message in, a private chat."""

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        chat = event_chat(event)
        return chat is not None and chat.type == "private"


class InChats(Filter):
    """A message in, or a button pressed in, one of the given chats."""

    def __init__(self, chat_ids: Collection[int]) -> None:
        self.chat_ids = frozenset(chat_ids)

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        chat = event_chat(event)
        return chat is not None and chat.id in self.chat_ids


class CommandText(Filter):
    """A text message that starts with "/" (so the command parsers need not look at others)."""

    async def __call__(self, message: Message) -> bool:
        return message.text is not None and message.text.startswith("/")


class PayloadAction(Filter):
    """A button whose payload parses (``domain.payloads``) with ``action``; gives its ``args``.

    With ``number``, the first argument must be digits (a request's or a conversation's id): it
    is given as an ``int`` under that name, and only the arguments after it as ``args``.
    """

    def __init__(self, action: str, *, number: str | None = None) -> None:
        self.action = action
        self.number = number

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        payload = parse(query.data)
        if payload is None or payload.action != self.action:
            return False
        if self.number is None:
            return {"args": payload.args}
        first = payload.arg()
        if first is None or not first.isdigit():
            return False
        return {self.number: int(first), "args": payload.args[1:]}
