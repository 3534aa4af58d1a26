"""Who a person is to the bot: a channel plus that channel's id for them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChannelName(StrEnum):
    """The messengers (and the terminal) a person can reach the bot through, and the Open311
    API a back office or a partner app files requests through (nothing is ever sent to it: it
    reads its requests and their updates back through the API)."""

    TELEGRAM = "telegram"
    VIBER = "viber"
    CONSOLE = "console"
    OPEN311 = "open311"


CHAT_CHANNELS: tuple[ChannelName, ...] = tuple(
    channel for channel in ChannelName if channel is not ChannelName.OPEN311
)
"""The channels people chat in (updates come in, messages go out); the Open311 API is not one."""


# A place inside a chat (a Telegram forum topic, say) is written ``<chat>/<thread>``: the one
# address convention every layer shares; each adapter maps it to its platform's fields. Only
# for chats that have threads (staff chats): a Viber user id may itself contain "/".
THREAD_SEPARATOR = "/"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person (or a staff chat, or a thread inside one) as one channel knows them."""

    channel: ChannelName
    user_id: str

    def __str__(self) -> str:
        return f"{self.channel.value}:{self.user_id}"

    @property
    def chat(self) -> UserRef:
        """The chat itself, without a thread."""
        chat_id, _, _ = self.user_id.partition(THREAD_SEPARATOR)
        return UserRef(self.channel, chat_id)

    @property
    def thread(self) -> str | None:
        """The thread inside the chat, or None."""
        _, separator, thread = self.user_id.partition(THREAD_SEPARATOR)
        return thread if separator and thread else None

    def in_thread(self, thread: str | int | None) -> UserRef:
        """This chat's ``thread`` (the chat itself when None)."""
        chat = self.chat
        if thread is None:
            return chat
        return UserRef(self.channel, f"{chat.user_id}{THREAD_SEPARATOR}{thread}")

    @classmethod
    def parse(cls, text: str) -> UserRef:
        channel, _, user_id = text.partition(":")
        if not user_id:
            raise ValueError(f"not a user reference: {text!r}")
        return cls(ChannelName(channel), user_id)
