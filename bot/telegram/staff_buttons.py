"""The buttons of a request's card: a status (Прийнято, В роботі, Виконано, ...), the executor
picker, and the answer to a press of ours no handler took.

Every press goes the same way: authorize (``bot.telegram.auth``) -> one transaction through
``services.requests.RequestService`` -> after the commit, the card is edited in place with the
re-rendered card -> the callback is answered. A press that is no longer valid (Виконано twice)
changes nothing and answers with an alert. A status that needs a text (rejecting, asking for
information, reopening) is asked for with a prompt (``bot.telegram.prompts``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, InaccessibleMessage, Message

from bot.telegram.answers import answer_query
from bot.telegram.auth import StaffAuthorizer
from bot.telegram.cards import STAFF_LANGUAGE, edit_card, is_media, read_card, staff_text
from bot.telegram.channel import TelegramChannel, chat_ref, reply_chat
from bot.telegram.prompts import ask_note
from bot.telegram.render import keyboards
from domain.channel import DeliveryError
from domain.clock import Clock
from domain.identity import ChannelName
from domain.messages import Button, Reply
from domain.payloads import build, parse
from domain.requests import (
    Actor,
    InvalidTransition,
    MissingNote,
    Request,
    RequestError,
    RequestNotFound,
    Status,
    StatusChange,
    format_number,
)
from services.cards import ASSIGN_ACTION, STAFF_STATUS_ACTION, status_label
from services.relay_texts import ACTION_CLOSE, ACTION_TO_REQUEST
from services.requests import RequestService
from storage.base import Storage, StoreSession

logger = logging.getLogger(__name__)

BACK = "-"  # the executor picker's "back" argument (never an executor id)
_OUR_ACTIONS = frozenset({STAFF_STATUS_ACTION, ASSIGN_ACTION, ACTION_CLOSE, ACTION_TO_REQUEST})


async def on_status(
    query: CallbackQuery,
    *,
    bot: Bot,
    request_id: int,
    args: tuple[str, ...],
    database: Storage,
    clock: Clock,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
    telegram_channel: TelegramChannel | None = None,
) -> None:
    """A status button of a card (Прийнято, В роботі, Виконано, Відхилено, ...)."""
    service = request_service
    message = query.message
    if not args or args[0] not in {status.value for status in Status} or message is None:
        await answer_query(query, staff_text(service, "staff_unknown_button"))
        return
    status = Status(args[0])
    chat_id = message.chat.id
    user_id = query.from_user.id
    if not await staff_auth.may_act_on_request(user_id, chat_id, request_id, database):
        logger.info("user %s refused on request %s in chat %s", user_id, request_id, chat_id)
        await answer_query(query, staff_text(service, "staff_not_allowed"), alert=True)
        return
    actor = Actor.operator(user_id, query.from_user.full_name)
    try:
        async with database.transaction() as session:
            request = await service.change_status(session, request_id, status, actor)
            history = await service.history(session, request_id)
            await _keep_pressed(session, service, request_id, message)
    except MissingNote:
        await ask_note(
            query,
            bot=bot,
            request_id=request_id,
            status=status,
            database=database,
            clock=clock,
            service=service,
        )
        return
    except InvalidTransition as error:
        await _refresh_pressed(bot, query, service, database, request_id)
        label = status_label(service.texts, STAFF_LANGUAGE, error.current)
        text = staff_text(service, "staff_invalid_transition", status=label)
        await answer_query(query, text, alert=True)
        return
    except RequestNotFound:
        text = staff_text(service, "staff_not_found", number=format_number(request_id))
        await answer_query(query, text, alert=True)
        return
    except RequestError as error:
        logger.warning("request %s: %s refused: %s", request_id, status.value, type(error).__name__)
        await answer_query(query, staff_text(service, "staff_error"), alert=True)
        return
    logger.info("request %s -> %s by user %s", request_id, status.value, user_id)
    await _show(
        query,
        bot=bot,
        chat_id=chat_id,
        service=service,
        request=request,
        history=history,
        channel=telegram_channel,
    )
    label = status_label(service.texts, STAFF_LANGUAGE, request.status)
    await answer_query(query, staff_text(service, "staff_status_done", status=label))


async def on_assign(
    query: CallbackQuery,
    *,
    bot: Bot,
    request_id: int,
    args: tuple[str, ...],
    database: Storage,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
    telegram_channel: TelegramChannel | None = None,
) -> None:
    """ "Виконавець": show the executors (from the routing file), then assign the chosen one."""
    service = request_service
    message = query.message
    if message is None:
        await answer_query(query, staff_text(service, "staff_unknown_button"))
        return
    chat_id = message.chat.id
    user_id = query.from_user.id
    if not await staff_auth.may_act_on_request(user_id, chat_id, request_id, database):
        await answer_query(query, staff_text(service, "staff_not_allowed"), alert=True)
        return
    if not args or args[0] == BACK:
        await _show_picker_or_card(query, bot, request_id, database, service, picker=not args)
        return
    executor_id = args[0]
    if executor_id not in service.routing.executors:
        await answer_query(query, staff_text(service, "staff_unknown_button"), alert=True)
        return
    actor = Actor.operator(user_id, query.from_user.full_name)
    try:
        async with database.transaction() as session:
            request = await service.assign(session, request_id, executor_id, actor)
            history = await service.history(session, request_id)
            await _keep_pressed(session, service, request_id, message)
    except RequestNotFound:
        text = staff_text(service, "staff_not_found", number=format_number(request_id))
        await answer_query(query, text, alert=True)
        return
    except RequestError as error:
        logger.warning("request %s: assignment refused: %s", request_id, type(error).__name__)
        await answer_query(query, staff_text(service, "staff_error"), alert=True)
        return
    logger.info("request %s assigned to %s by user %s", request_id, executor_id, user_id)
    await _show(
        query,
        bot=bot,
        chat_id=chat_id,
        service=service,
        request=request,
        history=history,
        channel=telegram_channel,
    )
    name = service.routing.executors[executor_id].name
    await answer_query(query, staff_text(service, "staff_assigned", executor=name))


class StaleButton(Filter):
    """A payload that does not parse (an old version, forged) or one of ours that no handler
    took (its arguments no longer make sense)."""

    async def __call__(self, query: CallbackQuery) -> bool:
        payload = parse(query.data)
        return payload is None or payload.action in _OUR_ACTIONS


async def on_stale_button(query: CallbackQuery, request_service: RequestService) -> None:
    await answer_query(query, staff_text(request_service, "staff_unknown_button"))


async def _keep_pressed(
    session: StoreSession,
    service: RequestService,
    request_id: int,
    message: Message | InaccessibleMessage,
) -> None:
    """The pressed message is about to show the card (``_show``): later changes edit it too,
    whatever it was (the card, a forwarded answer, an escalation). Kept after the change, so a
    message that was no copy yet gets no queued edit for this change (``_show`` edits it now;
    a known copy gets one, which changes nothing: Telegram says "not modified")."""
    if isinstance(message, Message):
        await service.card_shown(
            session,
            request_id,
            reply_chat(message),
            str(message.message_id),
            caption=is_media(message),
        )


async def _show(
    query: CallbackQuery,
    *,
    bot: Bot,
    chat_id: int,
    service: RequestService,
    request: Request,
    history: Sequence[StatusChange],
    channel: TelegramChannel | None,
) -> None:
    """The pressed card, edited in place (or sent anew when it is too old to edit, through the
    bot's channel: it uploads a stored photo)."""
    message = query.message
    if isinstance(message, Message):
        await edit_card(
            bot,
            chat_id,
            message.message_id,
            service=service,
            request=request,
            history=history,
            media=is_media(message),
        )
        return
    card = service.render_card(request, history, STAFF_LANGUAGE, shown_in=ChannelName.TELEGRAM)
    with contextlib.suppress(DeliveryError):
        await (channel or TelegramChannel(bot)).send(chat_ref(chat_id), [card])


async def _refresh_pressed(
    bot: Bot, query: CallbackQuery, service: RequestService, database: Storage, request_id: int
) -> None:
    """Show the card as it is now (after a stale press)."""
    found = await read_card(database, service, request_id)
    if found is not None and isinstance(query.message, Message):
        message = query.message
        request, history = found
        await edit_card(
            bot,
            message.chat.id,
            message.message_id,
            service=service,
            request=request,
            history=history,
            media=is_media(message),
        )


async def _show_picker_or_card(
    query: CallbackQuery,
    bot: Bot,
    request_id: int,
    database: Storage,
    service: RequestService,
    *,
    picker: bool,
) -> None:
    found = await read_card(database, service, request_id)
    message = query.message
    if found is None or not isinstance(message, Message):
        text = staff_text(service, "staff_not_found", number=format_number(request_id))
        await answer_query(query, text, alert=True)
        return
    request, history = found
    if picker:
        rows = [
            (
                Button(
                    ("✓ " if executor.id == request.executor_id else "") + executor.name,
                    build(ASSIGN_ACTION, request.id, executor.id),
                ),
            )
            for executor in service.routing.executors.values()
        ]
        back = staff_text(service, "staff_btn_back")
        rows.append((Button(back, build(ASSIGN_ACTION, request.id, BACK)),))
        markup = keyboards(Reply("", buttons=tuple(rows))).inline
    else:
        markup = keyboards(
            service.render_card(request, history, STAFF_LANGUAGE, shown_in=ChannelName.TELEGRAM)
        ).inline
    with contextlib.suppress(AiogramError):
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
        )
    await answer_query(query, staff_text(service, "staff_choose_executor") if picker else "")
