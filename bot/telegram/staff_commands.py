"""Staff commands in the staff chat and executors' chats: ``/find`` and ``/request``.

Logs carry chat ids and counts only: never a phone or a search query.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram.filters import CommandObject
from aiogram.types import Message

from bot.telegram.answers import reply_note
from bot.telegram.auth import StaffAuthorizer
from bot.telegram.cards import STAFF_LANGUAGE, staff_text
from bot.telegram.channel import TelegramChannel, reply_chat
from domain.channel import DeliveryError
from domain.identity import ChannelName
from domain.requests import Request, StatusChange, parse_number
from services.requests import RequestService
from storage.base import Storage

logger = logging.getLogger(__name__)

FIND_LIMIT = 5


async def on_find(
    message: Message,
    *,
    command: CommandObject,
    database: Storage,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
    telegram_channel: TelegramChannel,
) -> None:
    """``/find <number or phone>``: the matching cards, newest first."""
    service = request_service
    if not await _may_use(message, staff_auth):
        await reply_note(message, staff_text(service, "staff_not_allowed"))
        return
    query = (command.args or "").strip()
    if not query:
        await reply_note(message, staff_text(service, "staff_find_usage"))
        return
    async with database.transaction() as session:
        found = _visible(await service.find(session, query), message.chat.id, staff_auth)
        shown = [(r, await service.history(session, r.id)) for r in found[:FIND_LIMIT]]
    logger.info("/find in chat %s: %s result(s)", message.chat.id, len(found))
    await _send_cards(message, service, telegram_channel, shown)
    if len(found) > len(shown):
        more = staff_text(service, "staff_found_more", total=len(found), shown=len(shown))
        await reply_note(message, more)


async def on_request(
    message: Message,
    *,
    command: CommandObject,
    database: Storage,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
    telegram_channel: TelegramChannel,
) -> None:
    """``/request <number>``: that request's card with its buttons."""
    service = request_service
    if not await _may_use(message, staff_auth):
        await reply_note(message, staff_text(service, "staff_not_allowed"))
        return
    request_id = parse_number(command.args or "")
    if request_id is None:
        await reply_note(message, staff_text(service, "staff_request_usage"))
        return
    async with database.transaction() as session:
        request = await service.get(session, request_id)
        found = _visible([request] if request else [], message.chat.id, staff_auth)
        shown = [(r, await service.history(session, r.id)) for r in found]
    if not shown:
        number = (command.args or "").strip()
        await reply_note(message, staff_text(service, "staff_not_found", number=number))
        return
    await _send_cards(message, service, telegram_channel, shown)


async def _may_use(message: Message, staff_auth: StaffAuthorizer) -> bool:
    user = message.from_user
    return user is not None and await staff_auth.may_use_chat(user.id, message.chat.id)


def _visible(
    requests: Sequence[Request], chat_id: int, staff_auth: StaffAuthorizer
) -> list[Request]:
    """What may be shown in this chat: everything in the staff chat, only its own executor's
    requests in an executor's chat (whoever asks, everyone in the chat sees the answer)."""
    if staff_auth.is_staff_chat(chat_id):
        return list(requests)
    executor = staff_auth.executor_of_chat(chat_id)
    return [request for request in requests if request.executor_id == executor]


async def _send_cards(
    message: Message,
    service: RequestService,
    channel: TelegramChannel,
    shown: Sequence[tuple[Request, Sequence[StatusChange]]],
) -> None:
    if not shown:
        await reply_note(message, staff_text(service, "staff_found_none"))
        return
    chat = reply_chat(message)
    for request, history in shown:
        try:
            await channel.send(
                chat,
                [
                    service.render_card(
                        request, history, STAFF_LANGUAGE, shown_in=ChannelName.TELEGRAM
                    )
                ],
            )
        except DeliveryError as error:
            logger.warning("card of request %s not shown: %s", request.id, type(error).__name__)
