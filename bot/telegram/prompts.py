"""Note prompts in the staff chats: the reason or question a status change needs.

Rejecting, asking for information and reopening need a text: the bot asks with ``force_reply``
(``ask_note``) and takes the operator's reply, or their next message in the same chat and
thread within ``PROMPT_WINDOW``, as the note; ``/cancel`` drops the prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ForceReply, Message

from bot.telegram.answers import answer_query, reply_note
from bot.telegram.auth import StaffAuthorizer
from bot.telegram.cards import STAFF_LANGUAGE, edit_card, read_card, staff_text
from bot.telegram.channel import chat_ref, topic_of
from bot.telegram.render import escape
from domain.clock import Clock
from domain.requests import Actor, InvalidTransition, Request, RequestError, Status, StatusChange
from services.cards import status_label
from services.requests import RequestService
from storage.base import Storage
from storage.relay import StaffPrompt

logger = logging.getLogger(__name__)

PROMPT_WINDOW = timedelta(minutes=15)


class CancelCommand(Filter):
    """``/cancel`` in any case, addressed to any bot, as a text or as a photo's caption (an
    operator may answer a prompt with a photo; aiogram's ``Command`` reads the text only)."""

    async def __call__(self, message: Message) -> bool:
        text = (message.text or message.caption or "").strip()
        if not text.startswith("/"):
            return False
        word = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
        return word.split("@", 1)[0].lower() == "cancel"


CANCEL = CancelCommand()


async def ask_note(
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
        await answer_query(query, staff_text(service, "staff_unknown_button"), alert=True)
        return
    thread = topic_of(card)
    user = query.from_user
    found = await read_card(database, service, request_id)
    number = found[0].number if found else str(request_id)
    marker = "\x00who\x00"
    text = escape(staff_text(service, f"staff_prompt_{status.value}", who=marker, number=number))
    mention = f'<a href="tg://user?id={user.id}">{escape(user.full_name)}</a>'
    placeholder = staff_text(service, f"staff_placeholder_{status.value}")[:64]
    try:
        prompt = await bot.send_message(
            card.chat.id,
            text.replace(marker, mention),
            message_thread_id=thread,
            reply_markup=ForceReply(
                force_reply=True, selective=True, input_field_placeholder=placeholder
            ),
        )
    except AiogramError as error:
        logger.warning("prompt for request %s not sent: %s", request_id, type(error).__name__)
        await answer_query(query, staff_text(service, "staff_error"), alert=True)
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
    await answer_query(query, staff_text(service, "staff_prompt_asked"))


class PromptAnswer(Filter):
    """Matches the answer to a prompt: a reply to it, or the same operator's next message in
    the same chat and thread (within ``PROMPT_WINDOW``). Gives ``prompt``.

    A command is never an answer; with ``command=True`` it is, for a filter before this one
    (``CANCEL``) has already told which command it is.
    """

    def __init__(self, *, command: bool = False) -> None:
        self.command = command

    async def __call__(
        self, message: Message, database: Storage, clock: Clock
    ) -> bool | dict[str, Any]:
        user = message.from_user
        if user is None or user.is_bot:
            return False
        text = message.text or message.caption or ""
        if text.startswith("/") and not self.command:
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
                    chat, topic_of(message), str(user.id), since=clock.now() - PROMPT_WINDOW
                )
        return False if prompt is None else {"prompt": prompt}


async def on_prompt_cancel(
    message: Message, *, prompt: StaffPrompt, database: Storage, request_service: RequestService
) -> None:
    """``/cancel`` in answer to a prompt: the status stays as it is."""
    async with database.transaction() as session:
        await session.staff_prompts.finish(prompt.id)
    await reply_note(message, staff_text(request_service, "staff_prompt_cancelled"))


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
    if not text:
        await reply_note(message, staff_text(service, "staff_prompt_empty"))
        return
    chat_id = message.chat.id
    if not await staff_auth.may_act_on_request(user.id, chat_id, prompt.request_id, database):
        await reply_note(message, staff_text(service, "staff_not_allowed"))
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
            if prompt.card_chat_id and prompt.card_message_id:
                # The pressed message shows the card from now on (see staff_buttons): a card
                # already known keeps its record; anything else pressed was a text message.
                await service.card_shown(
                    session,
                    prompt.request_id,
                    chat_ref(int(prompt.card_chat_id)),
                    str(prompt.card_message_id),
                    caption=False,
                )
    except RequestError as error:
        async with database.transaction() as session:
            await session.staff_prompts.finish(prompt.id)
        found = await read_card(database, service, prompt.request_id)
        if isinstance(error, InvalidTransition) and found is not None:
            await _edit_prompted_card(bot, prompt, service, *found)
            label = status_label(service.texts, STAFF_LANGUAGE, error.current)
            await reply_note(message, staff_text(service, "staff_invalid_transition", status=label))
        else:
            logger.warning(
                "request %s: prompt answer refused: %s", prompt.request_id, type(error).__name__
            )
            await reply_note(message, staff_text(service, "staff_error"))
        return
    logger.info("request %s -> %s by user %s (with a note)", request.id, status.value, user.id)
    await _edit_prompted_card(bot, prompt, service, request, history)
    label = status_label(service.texts, STAFF_LANGUAGE, request.status)
    applied = staff_text(service, "staff_prompt_applied", number=request.number, status=label)
    await reply_note(message, applied)


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
