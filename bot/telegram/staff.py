"""The staff chat and executors' chats in Telegram: card buttons, reason prompts, /find, /request.

Every press goes the same way: authorize (``bot.telegram.auth``) -> one transaction through
``services.requests.RequestService`` -> after the commit, the card is edited in place with the
re-rendered card -> the callback is answered. A press that is no longer valid (Виконано twice)
changes nothing and answers with an alert. Rejecting, asking for information and reopening need
a text: the bot asks with ``force_reply`` and takes the operator's reply (or their next message
in the same thread, within ``PROMPT_WINDOW``) as the reason or question.

Logs carry request, chat and user ids only: never a phone, a search query or resident text.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import AiogramError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message

from bot.telegram import relay
from bot.telegram.auth import StaffAuthorizer
from bot.telegram.channel import TelegramChannel
from bot.telegram.filters import InChats
from bot.telegram.render import (
    CAPTION_LIMIT,
    escape,
    keyboards,
    render_text_parts,
    split_html_safe,
)
from domain.channel import DeliveryError
from domain.clock import Clock
from domain.identity import ChannelName, UserRef
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
    parse_number,
)
from services.cards import ASSIGN_ACTION, STAFF_STATUS_ACTION, status_label
from services.relay import ACTION_CLOSE, ACTION_TO_REQUEST, RelayForwarder, RelayService
from services.requests import RequestService
from services.routing import Routing
from storage.base import Storage
from storage.relay import StaffPrompt

logger = logging.getLogger(__name__)

STAFF_LANGUAGE = "uk"
PROMPT_WINDOW = timedelta(minutes=15)
FIND_LIMIT = 5
BACK = "-"  # the executor picker's "back" argument (never an executor id)
_SHORTEST_DESCRIPTION = 200  # a card edited in place is cut to one message, never below this
_OUR_ACTIONS = frozenset({STAFF_STATUS_ACTION, ASSIGN_ACTION, ACTION_CLOSE, ACTION_TO_REQUEST})


def executor_chats(routing: Routing, *, staff_chat_id: int | None) -> dict[int, str]:
    """Executors' own Telegram chats from the routing file: chat id -> executor id."""
    return {
        executor.telegram_chat_id: executor.id
        for executor in routing.executors.values()
        if executor.telegram_chat_id is not None and executor.telegram_chat_id != staff_chat_id
    }


def build_staff(
    bot: Bot,
    *,
    staff_chat_id: int | None,
    operator_ids: frozenset[int],
    database: Storage,
    clock: Clock,
    requests: RequestService,
    relay_forwarder: RelayForwarder | None,
) -> tuple[list[Router], dict[str, Any]]:
    """The staff routers and the workflow data their callbacks take by name.

    Pass the routers to ``runtime.get_routers`` (they go before the residents' one) and the
    data to ``create_dispatcher``. It also gives the relay its Telegram desk (forum topics).
    Keys avoid ``storage``, which aiogram's ``Dispatcher`` takes as its FSM storage.
    """
    chats = executor_chats(requests.routing, staff_chat_id=staff_chat_id)
    staff_auth = StaffAuthorizer(
        bot, staff_chat_id=staff_chat_id, operator_ids=operator_ids, executor_chats=chats
    )
    relay_service = relay_forwarder.service if relay_forwarder else RelayService(requests.texts)
    if relay_forwarder is not None:
        relay_forwarder.desk = relay.TelegramRelayDesk(
            bot,
            database=database,
            clock=clock,
            service=relay_service,
            staff_chat_id=staff_chat_id,
        )
    routers = create_routers(staff_chat_id=staff_chat_id, executor_chat_ids=chats)
    data: dict[str, Any] = {
        "database": database,
        "clock": clock,
        "request_service": requests,
        "relay_service": relay_service,
        "staff_auth": staff_auth,
    }
    return routers, data


def create_routers(
    *, staff_chat_id: int | None, executor_chat_ids: Collection[int]
) -> list[Router]:
    """The staff routers in order: cards and commands, the relay, then stale buttons.

    Put them before the residents' router (``runtime.get_routers(*create_routers(...))``).
    """
    chats = set(executor_chat_ids)
    if staff_chat_id is not None:
        chats.add(staff_chat_id)
    if not chats:
        return []
    routers = [create_router(chats)]
    if staff_chat_id is not None:
        routers.append(relay.create_router(staff_chat_id))
    routers.append(create_fallback_router(chats))
    return routers


def create_router(chat_ids: Collection[int]) -> Router:
    """A fresh router for card buttons and staff commands in the given chats."""
    chats = frozenset(chat_ids)
    router = Router(name=__name__)
    router.message.filter(InChats(chats))
    router.callback_query.filter(InChats(chats))
    router.message.register(on_find, Command("find"))
    router.message.register(on_request, Command("request"))
    router.message.register(on_prompt_answer, PromptAnswer())
    router.callback_query.register(on_status, CardAction(STAFF_STATUS_ACTION))
    router.callback_query.register(on_assign, CardAction(ASSIGN_ACTION))
    return router


def create_fallback_router(chat_ids: Collection[int]) -> Router:
    """Answers stale or malformed presses of our buttons in the staff chats, so no spinner is
    left turning; other routers' buttons (registered actions) pass on untouched."""
    router = Router(name=__name__ + ".fallback")
    router.callback_query.filter(InChats(chat_ids))
    router.callback_query.register(on_stale_button, StaleButton())
    return router


class StaleButton(Filter):
    """A payload that does not parse (an old version, forged) or one of ours that no handler
    took (its arguments no longer make sense)."""

    async def __call__(self, query: CallbackQuery) -> bool:
        payload = parse(query.data)
        return payload is None or payload.action in _OUR_ACTIONS


# --- helpers -----------------------------------------------------------------------------


def _t(service: RequestService, key: str, /, **values: object) -> str:
    return service.texts.get(STAFF_LANGUAGE, key, **values)


def _thread(message: Message) -> int | None:
    # In plain supergroups replies carry a message_thread_id too; only forum topics count.
    return message.message_thread_id if message.is_topic_message else None


def _chat_ref(chat_id: int, thread_id: int | None) -> UserRef:
    suffix = f"/{thread_id}" if thread_id is not None else ""
    return UserRef(ChannelName.TELEGRAM, f"{chat_id}{suffix}")


def fit_card(
    service: RequestService, request: Request, history: Sequence[StatusChange], limit: int
) -> Reply:
    """The card, its description shortened until the rendered card fits ``limit`` characters
    (an edited card is one message; the full text stays in the database)."""
    card = service.render_card(request, history, STAFF_LANGUAGE)
    description = request.description
    while _html_length(card) > limit and len(description) > _SHORTEST_DESCRIPTION:
        overflow = _html_length(card) - limit
        description = description[: max(_SHORTEST_DESCRIPTION, len(description) - overflow - 1)]
        card = service.render_card(replace(request, description=description + "…"), history)
    return card


def _html_length(card: Reply) -> int:
    return sum(len(part) for part in render_text_parts(card))


def card_text_html(card: Reply) -> str:
    return render_text_parts(card)[0]


def card_caption_html(card: Reply) -> str:
    # The same cut as TelegramChannel uses for a card sent with its photo.
    title = f"<b>{escape(card.title)}</b>\n" if card.title else ""
    return title + escape(split_html_safe(card.text, CAPTION_LIMIT - 80)[0])


async def edit_card(
    bot: Bot,
    chat_id: int,
    message_id: int,
    *,
    service: RequestService,
    request: Request,
    history: Sequence[StatusChange],
    media: bool | None = None,
) -> bool:
    """Edit the card message in place; ``media=None`` tries text, then caption."""
    card = fit_card(service, request, history, CAPTION_LIMIT - 80 if media else 4096)
    markup = keyboards(card).inline
    try:
        if media:
            await _edit_caption(bot, chat_id, message_id, card, markup)
        else:
            try:
                await bot.edit_message_text(
                    text=card_text_html(card),
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
            except TelegramBadRequest as error:
                if media is None and "no text" in error.message:
                    await _edit_caption(bot, chat_id, message_id, card, markup)
                else:
                    raise
    except TelegramBadRequest as error:
        if "not modified" in error.message:
            return True
        logger.warning("card of request %s not edited: %s", request.id, error.message)
        return False
    except AiogramError as error:
        logger.warning("card of request %s not edited: %s", request.id, type(error).__name__)
        return False
    return True


async def _edit_caption(
    bot: Bot, chat_id: int, message_id: int, card: Reply, markup: InlineKeyboardMarkup | None
) -> None:
    await bot.edit_message_caption(
        chat_id=chat_id, message_id=message_id, caption=card_caption_html(card), reply_markup=markup
    )


async def _answer(query: CallbackQuery, text: str, *, alert: bool = False) -> None:
    with contextlib.suppress(AiogramError):
        await query.answer(text[:200], show_alert=alert)


async def _read(
    database: Storage, service: RequestService, request_id: int
) -> tuple[Request, list[StatusChange]] | None:
    async with database.transaction() as session:
        request = await service.get(session, request_id)
        if request is None:
            return None
        return request, await service.history(session, request_id)


async def _may_act(
    user_id: int,
    chat_id: int,
    request_id: int,
    database: Storage,
    staff_auth: StaffAuthorizer,
) -> bool:
    if await staff_auth.is_staff(user_id):
        return True
    if staff_auth.executor_of_chat(chat_id) is None:
        return False
    async with database.transaction() as session:
        request = await session.requests.get(request_id)
    return request is not None and await staff_auth.may_act(user_id, chat_id, request.executor_id)


async def _refresh_pressed(
    bot: Bot, query: CallbackQuery, service: RequestService, database: Storage, request_id: int
) -> None:
    """Show the card as it is now (after a stale press)."""
    found = await _read(database, service, request_id)
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
            media=_is_media(message),
        )


def _is_media(message: Message) -> bool:
    return message.text is None


# --- card buttons ------------------------------------------------------------------------


class CardAction(Filter):
    """Matches ``v1:<action>:<request id>[:...]``; gives ``request_id`` and the other ``args``."""

    def __init__(self, action: str) -> None:
        self.action = action

    async def __call__(self, query: CallbackQuery) -> bool | dict[str, Any]:
        payload = parse(query.data)
        if payload is None or payload.action != self.action:
            return False
        number = payload.arg()
        if number is None or not number.isdigit():
            return False
        return {"request_id": int(number), "args": payload.args[1:]}


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
) -> None:
    """A status button of a card (Прийнято, В роботі, Виконано, Відхилено, ...)."""
    service = request_service
    message = query.message
    if not args or args[0] not in {status.value for status in Status} or message is None:
        await _answer(query, _t(service, "staff_unknown_button"))
        return
    status = Status(args[0])
    chat_id = message.chat.id
    if not await _may_act(query.from_user.id, chat_id, request_id, database, staff_auth):
        logger.info(
            "user %s refused on request %s in chat %s", query.from_user.id, request_id, chat_id
        )
        await _answer(query, _t(service, "staff_not_allowed"), alert=True)
        return
    actor = Actor.operator(query.from_user.id, query.from_user.full_name)
    try:
        async with database.transaction() as session:
            request = await service.change_status(session, request_id, status, actor)
            history = await service.history(session, request_id)
    except MissingNote:
        await _ask_note(
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
        await _answer(query, _t(service, "staff_invalid_transition", status=label), alert=True)
        return
    except RequestNotFound:
        await _answer(
            query, _t(service, "staff_not_found", number=format_number(request_id)), alert=True
        )
        return
    except RequestError as error:
        logger.warning("request %s: %s refused: %s", request_id, status.value, type(error).__name__)
        await _answer(query, _t(service, "staff_error"), alert=True)
        return
    logger.info("request %s -> %s by user %s", request_id, status.value, query.from_user.id)
    await _show(query, bot=bot, chat_id=chat_id, service=service, request=request, history=history)
    label = status_label(service.texts, STAFF_LANGUAGE, request.status)
    await _answer(query, _t(service, "staff_status_done", status=label))


async def _show(
    query: CallbackQuery,
    *,
    bot: Bot,
    chat_id: int,
    service: RequestService,
    request: Request,
    history: Sequence[StatusChange],
) -> None:
    """The pressed card, edited in place (or sent anew when it is too old to edit)."""
    message = query.message
    if isinstance(message, Message):
        await edit_card(
            bot,
            chat_id,
            message.message_id,
            service=service,
            request=request,
            history=history,
            media=_is_media(message),
        )
        return
    card = service.render_card(request, history, STAFF_LANGUAGE)
    with contextlib.suppress(DeliveryError):
        await TelegramChannel(bot).send(_chat_ref(chat_id, None), [card])


async def _ask_note(
    query: CallbackQuery,
    *,
    bot: Bot,
    request_id: int,
    status: Status,
    database: Storage,
    clock: Clock,
    service: RequestService,
) -> None:
    """Ask the operator for the reason or question with ``force_reply`` and remember it."""
    card = query.message
    if not isinstance(card, Message):
        await _answer(query, _t(service, "staff_unknown_button"), alert=True)
        return
    thread = _thread(card)
    user = query.from_user
    number = (await _number(database, service, request_id)) or str(request_id)
    marker = "\x00who\x00"
    text = escape(_t(service, f"staff_prompt_{status.value}", who=marker, number=number))
    mention = f'<a href="tg://user?id={user.id}">{escape(user.full_name)}</a>'
    try:
        prompt = await bot.send_message(
            card.chat.id,
            text.replace(marker, mention),
            message_thread_id=thread,
            reply_markup=ForceReply(
                force_reply=True,
                selective=True,
                input_field_placeholder=_t(service, f"staff_placeholder_{status.value}")[:64],
            ),
        )
    except AiogramError as error:
        logger.warning("prompt for request %s not sent: %s", request_id, type(error).__name__)
        await _answer(query, _t(service, "staff_error"), alert=True)
        return
    async with database.transaction() as session:
        await session.staff_prompts.add(
            chat_id=str(card.chat.id),
            thread_id=thread,
            prompt_message_id=str(prompt.message_id),
            user_id=str(user.id),
            action=status.value,
            request_id=request_id,
            card_chat_id=str(card.chat.id),
            card_message_id=str(card.message_id),
            now=clock.now(),
        )
    await _answer(query, _t(service, "staff_prompt_asked"))


async def _number(database: Storage, service: RequestService, request_id: int) -> str | None:
    async with database.transaction() as session:
        request = await service.get(session, request_id)
    return request.number if request else None


async def on_assign(
    query: CallbackQuery,
    *,
    bot: Bot,
    request_id: int,
    args: tuple[str, ...],
    database: Storage,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
) -> None:
    """ "Виконавець": show the executors (from the routing file), then assign the chosen one."""
    service = request_service
    message = query.message
    if message is None:
        await _answer(query, _t(service, "staff_unknown_button"))
        return
    chat_id = message.chat.id
    if not await _may_act(query.from_user.id, chat_id, request_id, database, staff_auth):
        await _answer(query, _t(service, "staff_not_allowed"), alert=True)
        return
    if not args or args[0] == BACK:
        await _show_picker_or_card(query, bot, request_id, database, service, picker=not args)
        return
    executor_id = args[0]
    if executor_id not in service.routing.executors:
        await _answer(query, _t(service, "staff_unknown_button"), alert=True)
        return
    actor = Actor.operator(query.from_user.id, query.from_user.full_name)
    try:
        async with database.transaction() as session:
            request = await service.assign(session, request_id, executor_id, actor)
            history = await service.history(session, request_id)
    except RequestNotFound:
        await _answer(
            query, _t(service, "staff_not_found", number=format_number(request_id)), alert=True
        )
        return
    except RequestError as error:
        logger.warning("request %s: assignment refused: %s", request_id, type(error).__name__)
        await _answer(query, _t(service, "staff_error"), alert=True)
        return
    logger.info("request %s assigned to %s by user %s", request_id, executor_id, query.from_user.id)
    await _show(query, bot=bot, chat_id=chat_id, service=service, request=request, history=history)
    name = service.routing.executors[executor_id].name
    await _answer(query, _t(service, "staff_assigned", executor=name))


async def _show_picker_or_card(
    query: CallbackQuery,
    bot: Bot,
    request_id: int,
    database: Storage,
    service: RequestService,
    *,
    picker: bool,
) -> None:
    found = await _read(database, service, request_id)
    message = query.message
    if found is None or not isinstance(message, Message):
        await _answer(
            query, _t(service, "staff_not_found", number=format_number(request_id)), alert=True
        )
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
        rows.append(
            (Button(_t(service, "staff_btn_back"), build(ASSIGN_ACTION, request.id, BACK)),)
        )
        markup = keyboards(Reply("", buttons=tuple(rows))).inline
    else:
        markup = keyboards(service.render_card(request, history, STAFF_LANGUAGE)).inline
    with contextlib.suppress(AiogramError):
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
        )
    await _answer(query, _t(service, "staff_choose_executor") if picker else "")


async def on_stale_button(query: CallbackQuery, request_service: RequestService) -> None:
    await _answer(query, _t(request_service, "staff_unknown_button"))


# --- reason / question prompts -----------------------------------------------------------


class PromptAnswer(Filter):
    """Matches the answer to a prompt: a reply to it, or the same operator's next message in
    the same chat and thread (within ``PROMPT_WINDOW``). Gives ``prompt``."""

    async def __call__(
        self, message: Message, database: Storage, clock: Clock
    ) -> bool | dict[str, Any]:
        user = message.from_user
        if user is None or user.is_bot:
            return False
        text = message.text or message.caption or ""
        if text.startswith("/") and _command(text) != "cancel":
            return False
        chat = str(message.chat.id)
        reply = message.reply_to_message
        replying = reply is not None and reply.forum_topic_created is None
        async with database.transaction() as session:
            prompt: StaffPrompt | None = None
            if replying and reply is not None:
                prompt = await session.staff_prompts.by_reply(chat, str(reply.message_id))
            elif not replying:
                prompt = await session.staff_prompts.latest_for(
                    chat, _thread(message), str(user.id), since=clock.now() - PROMPT_WINDOW
                )
        return False if prompt is None else {"prompt": prompt}


def _command(text: str) -> str:
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""


async def on_prompt_answer(
    message: Message,
    *,
    bot: Bot,
    prompt: StaffPrompt,
    database: Storage,
    clock: Clock,
    request_service: RequestService,
    staff_auth: StaffAuthorizer,
) -> None:
    """The reason or question an operator was asked for: apply the status change with it."""
    service = request_service
    user = message.from_user
    assert user is not None
    text = (message.text or message.caption or "").strip()
    if text.startswith("/"):  # /cancel, the only command the filter lets through
        async with database.transaction() as session:
            await session.staff_prompts.finish(prompt.id)
        await _reply(message, _t(service, "staff_prompt_cancelled"))
        return
    if not text:
        await _reply(message, _t(service, "staff_prompt_empty"))
        return
    if not await _may_act(user.id, message.chat.id, prompt.request_id, database, staff_auth):
        await _reply(message, _t(service, "staff_not_allowed"))
        return
    status = Status(prompt.action)
    actor = Actor.operator(user.id, user.full_name)
    try:
        async with database.transaction() as session:
            if not await session.staff_prompts.finish(prompt.id):
                return  # answered already (a redelivered update)
            request = await service.change_status(
                session, prompt.request_id, status, actor, note=text
            )
            history = await service.history(session, prompt.request_id)
    except RequestError as error:
        async with database.transaction() as session:
            await session.staff_prompts.finish(prompt.id)
        found = await _read(database, service, prompt.request_id)
        if isinstance(error, InvalidTransition) and found is not None:
            await _edit_prompted_card(bot, prompt, service, *found)
            label = status_label(service.texts, STAFF_LANGUAGE, error.current)
            await _reply(message, _t(service, "staff_invalid_transition", status=label))
        else:
            logger.warning(
                "request %s: prompt answer refused: %s", prompt.request_id, type(error).__name__
            )
            await _reply(message, _t(service, "staff_error"))
        return
    logger.info("request %s -> %s by user %s (with a note)", request.id, status.value, user.id)
    await _edit_prompted_card(bot, prompt, service, request, history)
    label = status_label(service.texts, STAFF_LANGUAGE, request.status)
    await _reply(message, _t(service, "staff_prompt_applied", number=request.number, status=label))


async def _edit_prompted_card(
    bot: Bot,
    prompt: StaffPrompt,
    service: RequestService,
    request: Request,
    history: Sequence[StatusChange],
) -> None:
    if prompt.card_chat_id and prompt.card_message_id:
        await edit_card(
            bot,
            int(prompt.card_chat_id),
            int(prompt.card_message_id),
            service=service,
            request=request,
            history=history,
        )


async def _reply(message: Message, text: str) -> None:
    try:
        await message.reply(escape(text))
    except AiogramError as error:
        logger.info("note to chat %s failed: %s", message.chat.id, type(error).__name__)


# --- commands ----------------------------------------------------------------------------


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
        await _reply(message, _t(service, "staff_not_allowed"))
        return
    query = (command.args or "").strip()
    if not query:
        await _reply(message, _t(service, "staff_find_usage"))
        return
    async with database.transaction() as session:
        found = _visible(await service.find(session, query), message.chat.id, staff_auth)
        shown = [(r, await service.history(session, r.id)) for r in found[:FIND_LIMIT]]
    logger.info("/find in chat %s: %s result(s)", message.chat.id, len(found))
    await _send_cards(message, service, telegram_channel, shown)
    if len(found) > len(shown):
        await _reply(message, _t(service, "staff_found_more", total=len(found), shown=len(shown)))


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
        await _reply(message, _t(service, "staff_not_allowed"))
        return
    request_id = parse_number(command.args or "")
    if request_id is None:
        await _reply(message, _t(service, "staff_request_usage"))
        return
    async with database.transaction() as session:
        request = await service.get(session, request_id)
        found = _visible([request] if request else [], message.chat.id, staff_auth)
        shown = [(r, await service.history(session, r.id)) for r in found]
    if not shown:
        await _reply(message, _t(service, "staff_not_found", number=(command.args or "").strip()))
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
        await _reply(message, _t(service, "staff_found_none"))
        return
    chat = _chat_ref(message.chat.id, _thread(message))
    for request, history in shown:
        try:
            await channel.send(chat, [service.render_card(request, history, STAFF_LANGUAGE)])
        except DeliveryError as error:
            logger.warning("card of request %s not shown: %s", request.id, type(error).__name__)
