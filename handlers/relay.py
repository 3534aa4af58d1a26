"""The resident's side of the operator relay: "talk to an operator", the conversation, its end.

Registers the ``operator`` action (replacing the menu's placeholder), the ``relay_end`` button
and the ``relay`` step. While in the step, the resident's texts and photos go to the operators
(``services.relay``); operators' answers arrive through the outbox, whatever the resident is
doing. Leaving the step (/menu, /cancel) keeps the conversation open: the operator can still
answer, and the "reply" button under an answer returns the resident to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from domain.messages import Kind, Reply, said
from domain.payloads import Payload
from handlers.context import PAUSED, Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from services.relay import RelayService
from services.relay_texts import ACTION_END, ACTION_OPEN
from storage.base import StoreSession

logger = logging.getLogger(__name__)

Forward = Callable[[int], Awaitable[None]]

# The resident's step while talking to an operator (and any sub-step of it).
RELAY_STEP = "relay"


def in_relay(step: str) -> bool:
    return step == RELAY_STEP or step.startswith(RELAY_STEP + ".")


class RelayFeature:
    """Registers the relay's action, button and step.

    ``available`` is false when no staff chat is configured: the resident is then given the
    phone numbers instead of a conversation nobody reads. ``forward`` hands a message whose place
    in the staff chat is not known yet to the staff side, after the commit.
    """

    def __init__(
        self, service: RelayService, *, available: bool, forward: Forward | None = None
    ) -> None:
        self.service = service
        self.available = available
        self.forward = forward
        service.on_closed_by_operator(self.leave_relay)

    @staticmethod
    async def leave_relay(session: StoreSession, resident_id: int, now: datetime) -> None:
        """An operator closed the conversation: the resident's next message is not relayed."""
        state = await session.conversations.load(resident_id)
        if in_relay(state.step):
            paused = state.data.get(PAUSED)
            state.step, state.data = "idle", ({PAUSED: paused} if paused else {})
            await session.conversations.save(resident_id, state, now=now)

    def register(self, registry: Registry) -> None:
        registry.action(ACTION_OPEN, self.on_open)
        registry.action(ACTION_END, self.on_end)
        registry.step(RELAY_STEP, self.on_step, takes_photos=True)

    async def on_open(self, ctx: Context, _payload: Payload) -> list[Reply]:
        if not self.available:
            return [Reply(ctx.t("relay_unavailable"), buttons=(menu_button_row(ctx),))]
        relay, created = await self.service.open(ctx.session, ctx.resident, now=ctx.now)
        # A request form left halfway stays resumable after the conversation (ctx.reset).
        ctx.reset()
        ctx.go(RELAY_STEP, relay_id=relay.id)
        key = "relay_opened" if created else "relay_resumed"
        buttons = (self.service.say.resident_buttons(ctx.lang, relay.id)[1:], menu_button_row(ctx))
        return [Reply(ctx.t(key, number=relay.id), buttons=buttons)]

    async def on_end(self, ctx: Context, payload: Payload) -> list[Reply]:
        relay_id = _number(payload.arg())
        ended = relay_id is not None and await self.service.close_by_resident(
            ctx.session, ctx.resident, relay_id, now=ctx.now
        )
        if ctx.state.step == RELAY_STEP and (ended or ctx.state.data.get("relay_id") == relay_id):
            ctx.reset()
        if not ended:
            return [Reply(ctx.t("relay_not_active")), main_menu(ctx, with_title=False)]
        return [Reply(ctx.t("relay_ended_by_resident")), main_menu(ctx, with_title=False)]

    async def alert(self, ctx: Context, note: str) -> bool:
        """Put what the resident just wrote before the operators now, marked with ``note``;
        False when there is no staff chat to tell (the caller then gives the numbers only).
        The resident stays where they were: the operator's answer reaches them anyway."""
        if not self.available:
            return False
        incoming = ctx.incoming
        photo = incoming.photo.ref if incoming.kind is Kind.PHOTO and incoming.photo else None
        relay, relayed = await self.service.alert(
            ctx.session, ctx.resident, note=note, text=said(incoming), photo_ref=photo, now=ctx.now
        )
        if not relayed.forwarded and self.forward is not None:
            forward, relay_id = self.forward, relay.id
            ctx.after_commit.append(lambda: forward(relay_id))
        return True

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        relay = await self.service.own_open(ctx.session, ctx.resident)
        if relay is None or relay.id != ctx.state.data.get("relay_id"):
            # Closed meanwhile (by an operator): the message is handled as if idle.
            ctx.reset()
            return None
        incoming = ctx.incoming
        if incoming.kind is Kind.TEXT and incoming.text and incoming.text.strip():
            text: str | None = incoming.text.strip()
            photo_ref: str | None = None
        elif incoming.kind is Kind.PHOTO and incoming.photo is not None:
            text, photo_ref = incoming.photo.caption, incoming.photo.ref
        else:
            return [Reply(ctx.t("relay_text_or_photo"))]
        relayed = await self.service.from_resident(
            ctx.session, relay, text=text, photo_ref=photo_ref, now=ctx.now
        )
        if not relayed.forwarded and self.forward is not None:
            forward, relay_id = self.forward, relay.id
            ctx.after_commit.append(lambda: forward(relay_id))
        logger.info("relay %s: message %s from the resident", relay.id, relayed.message_id)
        if relayed.first:
            buttons = (self.service.say.resident_buttons(ctx.lang, relay.id)[1:],)
            return [Reply(ctx.t("relay_sent_first"), buttons=buttons)]
        return []


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None
