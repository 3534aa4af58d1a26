"""``ViberChannel``: the ``Channel`` seam for Viber; renders replies and sends them one by one."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.viber.render import (
    DEFAULT_MORE_LABEL,
    KEYBOARD_ONLY,
    MORE_PAYLOAD,
    TextContent,
    render_reply,
    reply_text,
    split_text,
    viber_message,
)
from domain.channel import Sent
from domain.identity import ChannelName, UserRef
from domain.messages import Reply

__all__ = ["MORE_PAYLOAD", "ViberChannel", "ViberMessageApi"]

logger = logging.getLogger(__name__)

SENDER_NAME_LIMIT = 28
# Keyboard pages are kept for this many people at most (least recently paged dropped first).
PAGED_KEYBOARDS_LIMIT = 10_000


class ViberMessageApi(Protocol):
    """What the channel needs from ``ViberClient``: one ``send_message`` call per message."""

    async def send_message(self, receiver: str, message: Mapping[str, Any]) -> str: ...


@dataclass(slots=True)
class _Pages:
    keyboards: list[dict[str, Any]]
    shown: int = 0


class ViberChannel:
    """Delivers replies to a Viber user (``UserRef.user_id`` is the Viber user id).

    Every message carries ``sender`` (``sender_name`` cut to 28 characters). Errors are the
    ``domain.channel`` delivery errors raised by the client; when one message of several
    fails, the ones before it stay sent. Raw ``image`` / ``document`` bytes are not sent:
    Viber needs a public URL for media, so only the reply's text goes out.
    """

    name = ChannelName.VIBER

    def __init__(
        self,
        client: ViberMessageApi,
        sender_name: str,
        *,
        sender_avatar: str | None = None,
        more_label: str = DEFAULT_MORE_LABEL,
    ) -> None:
        if not sender_name.strip():
            raise ValueError("Viber requires a sender name")
        self._client = client
        self._sender: dict[str, str] = {"name": sender_name.strip()[:SENDER_NAME_LIMIT]}
        if sender_avatar:
            self._sender["avatar"] = sender_avatar
        self._more_label = more_label
        # Per instance, and lost on a restart: the pages of the keyboard this process sent
        # last to each person. A "more" press that reaches another instance (or this one after
        # a restart) finds none, and the webhook falls back to the conversation, which answers
        # it as an outdated button with the menu (``ViberWebhook._more``): a worse answer,
        # never a wrong change. Routing a person's callbacks to one instance avoids it; a
        # shared table would be the fix if paged keyboards become common (issue 14).
        self._pages: OrderedDict[str, _Pages] = OrderedDict()

    @property
    def sender(self) -> dict[str, str]:
        return dict(self._sender)

    # No ``edit`` (``domain.channel.MessageEditor``): Viber's bot API cannot change a sent
    # message, and Viber has no staff chats, the only place the bot edits (cards); an edit
    # queued for a Viber chat is cancelled by the delivery worker.

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        """Send ``replies`` to ``chat`` in order; one ``Sent`` per Viber message."""
        receiver = self._receiver(chat)
        sent: list[Sent] = []
        for message in self._messages(receiver, replies):
            token = await self._client.send_message(receiver, message)
            sent.append(Sent(message_id=token))
        return sent

    async def show_next_keyboard_page(self, chat: UserRef) -> bool:
        """Answer the "more" button: show the next keyboard page; ``False`` if none is known."""
        receiver = self._receiver(chat)
        pages = self._pages.get(receiver)
        if pages is None:
            return False
        self._pages.move_to_end(receiver)
        pages.shown = (pages.shown + 1) % len(pages.keyboards)
        message = viber_message(KEYBOARD_ONLY, pages.keyboards[pages.shown])
        message["sender"] = self.sender
        await self._client.send_message(receiver, message)
        return True

    def welcome_message(self, chat: UserRef, replies: Sequence[Reply]) -> dict[str, Any] | None:
        """The one message a ``conversation_started`` answer may carry, or ``None``.

        Viber allows a single message there, so the replies' texts are joined (and cut to the
        limit) and the last reply with buttons gives the keyboard. Media is left out.
        """
        receiver = self._receiver(chat)
        texts = [text for text in (reply_text(reply) for reply in replies) if text]
        keyboard: dict[str, Any] | None = None
        for reply in replies:
            rendered = render_reply(reply, more_label=self._more_label)
            if rendered.keyboards:
                keyboard = rendered.keyboards[0]
                self._remember_pages(receiver, rendered.keyboards)
        parts = split_text("\n\n".join(texts))
        if not parts and keyboard is None:
            return None
        content = TextContent(parts[0]) if parts else KEYBOARD_ONLY
        message = viber_message(content, keyboard)
        message["sender"] = self.sender
        return message

    def _messages(self, receiver: str, replies: Sequence[Reply]) -> list[dict[str, Any]]:
        """All messages of a batch, each with ``sender`` and the keyboard it should carry.

        A keyboard stays on every later message of the batch: a message without one would
        replace the buttons with the phone's own keyboard.
        """
        messages: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for reply in replies:
            rendered = render_reply(reply, more_label=self._more_label)
            if reply.image is not None or reply.document is not None:
                logger.info("viber: file bytes for %s not sent (Viber needs a URL)", receiver)
            if rendered.keyboards:
                self._remember_pages(receiver, rendered.keyboards)
            last = len(rendered.messages) - 1
            for index, content in enumerate(rendered.messages):
                if index == last and rendered.keyboards:
                    current = rendered.keyboards[0]
                message = viber_message(content, current)
                message["sender"] = self.sender
                messages.append(message)
        return messages

    def _remember_pages(self, receiver: str, keyboards: list[dict[str, Any]]) -> None:
        if len(keyboards) < 2:
            self._pages.pop(receiver, None)
            return
        self._pages[receiver] = _Pages(keyboards=keyboards)
        self._pages.move_to_end(receiver)
        while len(self._pages) > PAGED_KEYBOARDS_LIMIT:
            self._pages.popitem(last=False)

    @staticmethod
    def _receiver(chat: UserRef) -> str:
        if chat.channel is not ChannelName.VIBER:
            raise ValueError(f"ViberChannel cannot deliver to a {chat.channel} chat")
        return chat.user_id
