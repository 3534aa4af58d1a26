"""Viber's delivery policy for messages the bot starts (``domain.channel.DeliveryPolicy``).

Viber lets a bot answer for free for 24 hours after the person last wrote; a message the bot
starts outside that window is billed to the bot's owner. ``VIBER_PROACTIVE_POLICY`` says what
the city pays for (see :class:`ViberProactive`); the delivery worker asks this policy about
every outbox message to a Viber chat and counts the answers in the monthly bill (``/outbox``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.channel import Proactive

__all__ = ["VIBER_WINDOW", "ViberDeliveryPolicy", "ViberProactive"]

# Viber's free window: a bot may answer for 24 hours after the person last wrote.
VIBER_WINDOW = timedelta(hours=24)
# A held message is looked at again this often (it goes once the resident writes)...
HOLD_RECHECK = timedelta(minutes=10)
# ...and dropped when it has waited this long (a week-old status update helps nobody).
HOLD_MAX = timedelta(days=7)
# Kinds not worth paying for nor worth holding: a reminder is pointless once late.
DROP_KINDS = frozenset({"followup_reminder", "deadline_reminder"})


class ViberProactive(StrEnum):
    """``VIBER_PROACTIVE_POLICY``: what to do with messages the bot starts in Viber.

    ``always``: send everything and count what is billed. ``window``: send only inside the
    resident's free 24-hour window; outside it a message waits (up to a week) until the resident
    writes again — reminders are dropped instead. ``never``: the bot never starts a Viber
    conversation (every outbox message to Viber is dropped; residents ask for their status).
    """

    ALWAYS = "always"
    WINDOW = "window"
    NEVER = "never"


class ViberDeliveryPolicy:
    """The 24-hour window and ``VIBER_PROACTIVE_POLICY`` as a channel delivery policy."""

    recheck = HOLD_RECHECK
    counts_cost = True

    def __init__(self, mode: ViberProactive = ViberProactive.WINDOW) -> None:
        self.mode = mode

    def decide(
        self, *, kind: str, created_at: datetime, last_seen: datetime | None, now: datetime
    ) -> Proactive:
        if self.mode is ViberProactive.NEVER:
            return Proactive.DROP
        if last_seen is not None and now - last_seen < VIBER_WINDOW:
            return Proactive.SEND
        if self.mode is ViberProactive.ALWAYS:
            return Proactive.BILLED
        if kind in DROP_KINDS or now - created_at > HOLD_MAX:
            return Proactive.DROP
        return Proactive.HOLD
