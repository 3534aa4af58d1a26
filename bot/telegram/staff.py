"""The staff side of Telegram, wired: the staff chat and executors' chats get card buttons
(``staff_buttons``), note prompts (``prompts``), ``/find`` and ``/request``
(``staff_commands``) and the operator relay (``relay``); cards are rendered and edited by
``cards``, everyone is authorized by ``auth``.

Logs carry request, chat and user ids only: never a phone, a search query or resident text.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command

from bot.telegram import relay
from bot.telegram.auth import StaffAuthorizer
from bot.telegram.filters import InChats, PayloadAction
from bot.telegram.prompts import CANCEL, PromptAnswer, on_prompt_answer, on_prompt_cancel
from bot.telegram.staff_buttons import StaleButton, on_assign, on_stale_button, on_status
from bot.telegram.staff_commands import on_find, on_request
from domain.clock import Clock
from services.cards import ASSIGN_ACTION, STAFF_STATUS_ACTION
from services.relay_forwarder import RelayForwarder
from services.requests import RequestService
from services.routing import Routing
from storage.base import Storage

__all__ = ["build_staff", "create_routers", "executor_chats"]


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
    relay_forwarder: RelayForwarder,
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
    relay_service = relay_forwarder.service
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
    """A fresh router for card buttons, note prompts and staff commands in the given chats."""
    chats = frozenset(chat_ids)
    router = Router(name=__name__)
    router.message.filter(InChats(chats))
    router.callback_query.filter(InChats(chats))
    router.message.register(on_find, Command("find"))
    router.message.register(on_request, Command("request"))
    router.message.register(on_prompt_cancel, CANCEL, PromptAnswer(command=True))
    router.message.register(on_prompt_answer, PromptAnswer())
    number = "request_id"
    router.callback_query.register(on_status, PayloadAction(STAFF_STATUS_ACTION, number=number))
    router.callback_query.register(on_assign, PayloadAction(ASSIGN_ACTION, number=number))
    return router


def create_fallback_router(chat_ids: Collection[int]) -> Router:
    """Answers stale or malformed presses of our buttons in the staff chats, so no spinner is
    left turning; other routers' buttons (registered actions) pass on untouched."""
    router = Router(name=__name__ + ".fallback")
    router.callback_query.filter(InChats(chat_ids))
    router.callback_query.register(on_stale_button, StaleButton())
    return router
