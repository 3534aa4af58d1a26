"""The seam every messenger adapter implements: sending, editing a message it sent (where the
platform can), the delivery errors it raises, and the channel's policy for messages the bot
starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from domain.identity import ChannelName, UserRef
from domain.messages import Reply


@dataclass(frozen=True, slots=True)
class Sent:
    """What a platform returned for one delivered message (for editing it later).

    One reply may become several platform messages (a long text in parts, a photo with its
    caption and the rest of the text, a location); ``main`` marks the one that carries the
    reply's title and buttons, the one an edit of the reply goes to, and ``caption`` says that
    its text is a media caption (edited as a caption, within the caption's limit)."""

    message_id: str
    main: bool = False
    caption: bool = False


class Channel(Protocol):
    """Delivers replies to one chat of one messenger; raised errors are from ``DeliveryError``."""

    name: ChannelName

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]: ...


@runtime_checkable
class MessageEditor(Protocol):
    """A channel that can change a message it sent: the text (or the caption) and the buttons
    of ``message`` become those of ``reply`` (its photo and location are not touched).

    Raises ``MessageGone`` when the message no longer exists or may no longer be edited, and
    the other ``DeliveryError``s as ``send`` does; an edit that changes nothing is a success.
    Telegram and the console implement it; Viber cannot edit a sent message (and has no staff
    chats, the only place the bot edits), so its channel does not."""

    async def edit(self, chat: UserRef, message: Sent, reply: Reply) -> None: ...


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


class MessageGone(PermanentFailure):
    """The message to edit was deleted or is too old to edit: sending it anew is the only way
    to show the change."""


class Proactive(StrEnum):
    """What a channel's delivery policy says about one message the bot starts."""

    SEND = "send"  # free: send it
    BILLED = "billed"  # send it, and count what the platform charges for it
    HOLD = "hold"  # not now: look again after the policy's ``recheck``
    DROP = "drop"  # never: cancel it


class DeliveryPolicy(Protocol):
    """Which messages the bot starts on one channel are sent, when, and at what cost.

    Registered per channel by the composition root next to the channel's adapter (Viber's
    24-hour free window is one, ``bot/viber/policy.py``); a channel without one sends
    everything for free. Replies to what a person just wrote never ask it.
    """

    # How long a held message waits before it is looked at again.
    recheck: timedelta
    # Whether sent messages are counted in the channel's monthly bill (billed and free).
    counts_cost: bool

    def decide(
        self, *, kind: str, created_at: datetime, last_seen: datetime | None, now: datetime
    ) -> Proactive:
        """``kind`` is the outbox kind (``status``, ``followup_reminder``...); ``last_seen`` is
        when the person last wrote (None: unknown)."""
        ...
