"""The Telegram channel: sends replies with aiogram and maps its errors onto delivery errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile, FSInputFile, Message, ReplyKeyboardRemove

from bot.telegram.render import escape, keyboards, render_caption_parts, render_text_parts
from domain.channel import (
    MessageGone,
    PermanentFailure,
    RecipientBlocked,
    RetryAfter,
    Sent,
    TemporaryFailure,
)
from domain.media import MediaStore, is_media_ref
from domain.messages import ChannelName, Reply, UserRef

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A conversational reply waits out a short 429 itself; a longer one is raised to the caller
# (the outbox worker reschedules; a reply to a resident is better late than blocking the loop).
MAX_INLINE_RETRY_AFTER = 5.0
MAX_INLINE_RETRIES = 3
_SHORTEST_LINE = 200  # an edited card's description is not cut below this

# What Telegram says when a message cannot be edited any more (deleted, too old, not ours).
_GONE = (
    "message to edit not found",
    "message can't be edited",
    "message_id_invalid",
)


class TelegramChannel:
    """Delivers replies to a Telegram chat (``UserRef.user_id`` is the chat id, optionally
    ``chat_id/thread_id`` for a forum topic)."""

    name = ChannelName.TELEGRAM

    def __init__(
        self,
        bot: Bot,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wait_retry_after: bool = True,
        media: MediaStore | None = None,
    ):
        self.bot = bot
        self._sleep = sleep
        # Where a ``media:`` photo (kept by the bot, e.g. a Viber picture) is read to upload it.
        self._kept = media
        # The outbox worker passes False: it never waits inside a send (another chat can go
        # meanwhile); it pauses the chat and reschedules the message instead.
        self._wait_retry_after = wait_retry_after

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        chat_id, thread_id = parse_chat(chat)
        sent: list[Sent] = []
        for reply in replies:
            messages, main, caption = await self._send_one(chat_id, thread_id, reply)
            for index, message in enumerate(messages):
                is_main = index == main
                sent.append(Sent(str(message.message_id), is_main, is_main and caption))
        return sent

    async def edit(self, chat: UserRef, message: Sent, reply: Reply) -> None:
        """The text (or the caption) and the inline buttons of ``message`` become ``reply``'s,
        cut to one message. "Not modified" is a success; a message deleted or too old to edit
        raises ``MessageGone``."""
        chat_id, _thread = parse_chat(chat)
        message_id = int(message.message_id)
        markup = keyboards(reply).inline
        caption = message.caption
        for _ in range(2):  # a wrong guess of text or caption is corrected once
            if caption:
                edit = partial(
                    self.bot.edit_message_caption,
                    chat_id=chat_id,
                    message_id=message_id,
                    caption=fit_one(reply, render_caption_parts),
                    reply_markup=markup,
                )
            else:
                edit = partial(
                    self.bot.edit_message_text,
                    text=fit_one(reply, render_text_parts),
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=markup,
                )
            try:
                await self._call(edit)
                return
            except PermanentFailure as error:
                reason = str(error).lower()
                if "not modified" in reason:
                    return
                if any(gone in reason for gone in _GONE):
                    raise MessageGone(str(error)) from error
                if "no text" in reason or "no caption" in reason:
                    caption = not caption
                    continue
                raise
        raise PermanentFailure(f"message {message_id} has neither text nor caption to edit")

    async def _send_one(
        self, chat_id: int, thread_id: int | None, reply: Reply
    ) -> tuple[list[Message], int, bool]:
        """The messages ``reply`` became, the index of the one with its title and buttons, and
        whether that one is a caption."""
        reply = self._without_lost_photo(reply)
        marks = keyboards(reply)
        messages: list[Message] = []
        parts = render_text_parts(reply)
        media = reply.image is not None or reply.photo is not None or reply.document is not None
        main = 0
        if media:
            caption, *rest = render_caption_parts(reply)
            messages.append(await self._media(chat_id, thread_id, reply, caption, marks.inline))
            for chunk in rest:
                send = partial(self.bot.send_message, chat_id, chunk, message_thread_id=thread_id)
                messages.append(await self._call(send))
        else:
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                markup = None
                if last:
                    markup = marks.share or marks.inline or None
                send = partial(
                    self.bot.send_message,
                    chat_id,
                    part,
                    message_thread_id=thread_id,
                    reply_markup=markup,
                )
                messages.append(await self._call(send))
            main = len(messages) - 1  # the last part carries the buttons
            if marks.share is not None and marks.inline is not None:
                # A message carries one markup: the share pickers went with the text, the
                # inline buttons follow in a short second message.
                messages.append(
                    await self._call(
                        lambda: self.bot.send_message(
                            chat_id, "⬇️", message_thread_id=thread_id, reply_markup=marks.inline
                        )
                    )
                )
                main = len(messages) - 1
        if reply.location is not None:
            location = reply.location
            messages.append(
                await self._call(
                    lambda: self.bot.send_location(
                        chat_id,
                        latitude=location.latitude,
                        longitude=location.longitude,
                        message_thread_id=thread_id,
                    )
                )
            )
        return messages, main, media

    async def _media(
        self,
        chat_id: int,
        thread_id: int | None,
        reply: Reply,
        caption: str,
        markup: object,
    ) -> Message:
        inline = markup if markup is not None else None
        if reply.image is not None:
            image = reply.image
            return await self._call(
                lambda: self.bot.send_photo(
                    chat_id,
                    BufferedInputFile(image, reply.image_name),
                    caption=caption,
                    message_thread_id=thread_id,
                    reply_markup=inline,  # type: ignore[arg-type]  # markup is an inline keyboard
                )
            )
        if reply.document is not None:
            document = reply.document
            return await self._call(
                lambda: self.bot.send_document(
                    chat_id,
                    BufferedInputFile(document, reply.document_name),
                    caption=caption,
                    message_thread_id=thread_id,
                    reply_markup=inline,  # type: ignore[arg-type]  # markup is an inline keyboard
                )
            )
        assert reply.photo is not None
        photo = reply.photo
        kept = self._kept.path_of(photo.ref) if self._kept is not None else None
        # A kept file is uploaded (multipart); a file_id or a URL is passed as it is.
        source: str | FSInputFile = FSInputFile(kept) if kept is not None else photo.ref
        return await self._call(
            lambda: self.bot.send_photo(
                chat_id,
                source,
                caption=caption,
                message_thread_id=thread_id,
                reply_markup=inline,  # type: ignore[arg-type]  # markup is an inline keyboard
            )
        )

    def _without_lost_photo(self, reply: Reply) -> Reply:
        """A ``media:`` photo whose file is not here (no MEDIA_DIR, or deleted) is left out:
        Telegram would refuse the whole message for it, the text still matters."""
        photo = reply.photo
        if photo is None or not is_media_ref(photo.ref):
            return reply
        if self._kept is not None and self._kept.path_of(photo.ref) is not None:
            return reply
        logger.warning("telegram: a kept photo is missing from the media directory; left out")
        return replace(reply, photo=None)

    async def remove_share_keyboard(self, chat: UserRef, text: str) -> None:
        chat_id, thread_id = parse_chat(chat)
        await self._call(
            lambda: self.bot.send_message(
                chat_id,
                escape(text),
                message_thread_id=thread_id,
                reply_markup=ReplyKeyboardRemove(),
            )
        )

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run one Bot API call, waiting out short 429s and mapping errors (see module doc)."""
        for attempt in range(MAX_INLINE_RETRIES + 1):
            try:
                return await make()
            except TelegramRetryAfter as error:
                if (
                    not self._wait_retry_after
                    or error.retry_after > MAX_INLINE_RETRY_AFTER
                    or attempt == MAX_INLINE_RETRIES
                ):
                    raise RetryAfter(float(error.retry_after)) from error
                logger.info("telegram asked to retry after %s s", error.retry_after)
                await self._sleep(float(error.retry_after))
            except TelegramForbiddenError as error:
                raise RecipientBlocked(error.message) from error
            except (
                TelegramServerError,
                TelegramNetworkError,
                ClientDecodeError,  # a proxy's HTML error page instead of the API's JSON
                TimeoutError,
            ) as error:
                raise TemporaryFailure(str(error)) from error
            except (TelegramBadRequest, TelegramNotFound, TelegramUnauthorizedError) as error:
                raise PermanentFailure(error.message) from error
        raise AssertionError("unreachable")


def fit_one(reply: Reply, render: Callable[[Reply], list[str]]) -> str:
    """``reply`` rendered as one message (a text or a caption, as ``render`` splits it): while
    it takes more, its longest line (a card's description) is shortened, never below
    ``_SHORTEST_LINE`` characters; what still does not fit is cut at the message's end."""
    parts = render(reply)
    while len(parts) > 1:
        lines = reply.text.split("\n")
        longest = max(range(len(lines)), key=lambda index: len(lines[index]))
        line = lines[longest]
        if len(line) <= _SHORTEST_LINE:
            break
        overflow = sum(len(part) for part in parts[1:])
        lines[longest] = line[: max(_SHORTEST_LINE, len(line) - overflow - 1)] + "…"
        reply = replace(reply, text="\n".join(lines))
        parts = render(reply)
    return parts[0]


def parse_chat(chat: UserRef) -> tuple[int, int | None]:
    """``"12345"`` -> (12345, None); ``"-100123/45"`` -> (-100123, 45) for a forum topic."""
    chat_text, _, thread_text = chat.user_id.partition("/")
    return int(chat_text), int(thread_text) if thread_text else None


def chat_ref(chat_id: int, thread_id: int | None = None) -> UserRef:
    """The inverse of ``parse_chat``: a chat, or a forum topic in it."""
    chat = f"{chat_id}/{thread_id}" if thread_id is not None else str(chat_id)
    return UserRef(ChannelName.TELEGRAM, chat)


def topic_of(message: Message) -> int | None:
    """The forum topic ``message`` was written in, if any."""
    # In plain supergroups replies carry a message_thread_id too; only forum topics count.
    return message.message_thread_id if message.is_topic_message else None


def reply_chat(message: Message) -> UserRef:
    """Where an answer to ``message`` goes: its chat, in its forum topic if it has one."""
    return chat_ref(message.chat.id, topic_of(message))
