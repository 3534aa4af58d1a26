"""Who a person is to the bot: a channel plus that channel's id for them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChannelName(StrEnum):
    """The messengers (and the terminal) a person can reach the bot through."""

    TELEGRAM = "telegram"
    VIBER = "viber"
    CONSOLE = "console"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person (or a staff chat) as one channel knows them."""

    channel: ChannelName
    user_id: str

    def __str__(self) -> str:
        return f"{self.channel.value}:{self.user_id}"

    @classmethod
    def parse(cls, text: str) -> UserRef:
        channel, _, user_id = text.partition(":")
        if not user_id:
            raise ValueError(f"not a user reference: {text!r}")
        return cls(ChannelName(channel), user_id)
