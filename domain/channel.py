"""The seam every messenger adapter implements, and the delivery errors it raises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.identity import ChannelName, UserRef
from domain.messages import Reply


@dataclass(frozen=True, slots=True)
class Sent:
    """What a platform returned for one delivered message (for editing it later)."""

    message_id: str


class Channel(Protocol):
    """Delivers replies to one chat of one messenger; raised errors are from ``DeliveryError``."""

    name: ChannelName

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]: ...


class DeliveryError(Exception):
    """Root of the errors a channel raises when it could not deliver."""


class RetryAfter(DeliveryError):
    """The platform asked us to slow down (HTTP 429); try again after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"platform asked to retry after {seconds:g} s")


class TemporaryFailure(DeliveryError):
    """A 5xx, a timeout or a broken connection: worth retrying with backoff."""


class RecipientBlocked(DeliveryError):
    """The person blocked the bot or unsubscribed (Telegram 403, Viber not subscribed)."""


class PermanentFailure(DeliveryError):
    """The platform refused the message for good (bad request, chat not found)."""
