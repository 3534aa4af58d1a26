"""A recording channel and a tiny driver: the httpx-MockTransport of our conversation tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.channel import Sent
from domain.messages import ChannelName, Incoming, Kind, Reply, UserRef
from handlers.conversation import Conversation


@dataclass
class RecordingChannel:
    """Collects what would have been sent, per chat."""

    name: ChannelName = ChannelName.CONSOLE
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        result = []
        for reply in replies:
            self.sent.append((chat, reply))
            result.append(Sent(str(len(self.sent))))
        return result

    def texts(self, chat: UserRef | None = None) -> list[str]:
        return [reply.text for to, reply in self.sent if chat is None or to == chat]


@dataclass
class Resident:
    """Drives a conversation as one person would, pressing buttons by their label."""

    conversation: Conversation
    user: UserRef
    last: list[Reply] = field(default_factory=list)
    counter: int = 0

    async def say(self, text: str) -> list[Reply]:
        return await self._send(Incoming(self.user, Kind.TEXT, text=text))

    async def send(self, incoming: Incoming) -> list[Reply]:
        return await self._send(incoming)

    async def press(self, label_part: str) -> list[Reply]:
        for reply in reversed(self.last):
            for button in reply.all_buttons:
                if label_part.lower() in button.label.lower():
                    return await self._send(
                        Incoming(self.user, Kind.BUTTON, payload=button.payload)
                    )
        labels = [b.label for r in self.last for b in r.all_buttons]
        raise AssertionError(f"no button like {label_part!r} among {labels}")

    async def _send(self, incoming: Incoming) -> list[Reply]:
        self.counter += 1
        self.last = await self.conversation.handle(incoming)
        return self.last

    @property
    def text(self) -> str:
        return "\n".join(reply.text for reply in self.last)

    @property
    def labels(self) -> list[str]:
        return [button.label for reply in self.last for button in reply.all_buttons]


def user(channel: ChannelName = ChannelName.TELEGRAM, user_id: str = "1001") -> UserRef:
    return UserRef(channel, user_id)
