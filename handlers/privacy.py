"""``/forget``: a resident erases their personal data, after a confirmation that says what goes.

The command (or the ``pv`` button ``v1:pv:ask``) shows what is erased, what stays as statistics
and, when the resident has requests in progress, that those keep their address, phone,
description and photos only until they are closed (then they are erased automatically: the
executor needs them to do the work, and the resident keeps getting status updates). Yes / No
buttons follow (``v1:pv:yes`` / ``v1:pv:no``); a Yes counts only while the confirmation is the
resident's current step, so an old button pressed later asks again instead of erasing.

The erasure itself is ``StoreSession.privacy`` (policy in ``storage.privacy``), in the same
transaction as the conversation state the engine saves afterwards. ``ErasureOnClosure`` is the
request observer that finishes the erasure of a kept request when it is done or rejected.
"""

from __future__ import annotations

import logging

from domain.messages import Button, Reply
from domain.payloads import Payload, build
from domain.requests import OPEN_STATUSES, Request, StatusChange, format_number
from handlers.context import Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from storage.base import StoreSession

__all__ = ["ACTION", "STEP", "ErasureOnClosure", "PrivacyFeature"]

logger = logging.getLogger(__name__)

ACTION = "pv"
STEP = "privacy.confirm"
BACK = "back"  # the state the confirmation interrupted, restored unless the resident erases


def _numbers(request_ids: list[int] | tuple[int, ...]) -> str:
    return ", ".join(format_number(request_id) for request_id in request_ids)


class PrivacyFeature:
    """Registers ``/forget`` and its confirmation; register it before the menu."""

    def register(self, registry: Registry) -> None:
        registry.command("forget", self.on_forget)
        registry.action(ACTION, self.on_button)
        registry.step(STEP, self.on_step)

    async def on_forget(self, ctx: Context) -> list[Reply]:
        open_requests = await ctx.session.privacy.open_requests(ctx.resident.id)
        text = ctx.t("privacy_confirm")
        if open_requests:
            text += "\n\n" + ctx.t("privacy_confirm_open", numbers=_numbers(open_requests))
        text += "\n\n" + ctx.t("privacy_confirm_question")
        # What the resident was doing comes back if they say no (an intake half filled in).
        back = ctx.state.data.get(BACK) if ctx.state.step == STEP else None
        if back is None:
            back = {"step": ctx.state.step, "data": ctx.state.data}
        ctx.state.step, ctx.state.data = STEP, {BACK: back}
        buttons = (
            (
                Button(ctx.t("privacy_btn_yes"), build(ACTION, "yes")),
                Button(ctx.t("privacy_btn_no"), build(ACTION, "no")),
            ),
        )
        return [Reply(text, title=ctx.t("privacy_title"), buttons=buttons)]

    async def on_button(self, ctx: Context, payload: Payload) -> list[Reply]:
        choice = payload.arg()
        if choice == "ask":
            return await self.on_forget(ctx)
        if choice not in {"yes", "no"} or ctx.state.step != STEP:
            # An old confirmation: nothing is erased without a fresh, deliberate yes.
            return [Reply(ctx.t("privacy_outdated"), buttons=(menu_button_row(ctx),))]
        if choice == "no":
            self._restore(ctx)
            if ctx.state.step != "idle":
                return [Reply(ctx.t("privacy_kept") + "\n" + ctx.t("privacy_continue"))]
            return [Reply(ctx.t("privacy_kept")), main_menu(ctx, with_title=False)]
        ctx.reset(keep_paused=False)  # a request form left halfway is personal data too
        report = await ctx.session.privacy.erase_resident(ctx.resident.id, now=ctx.now)
        logger.info(
            "resident %s erased their personal data: %s closed requests, %s kept open",
            ctx.resident.id,
            report.requests_erased,
            len(report.kept_open),
        )
        text = ctx.t("privacy_done")
        if report.kept_open:
            text += "\n\n" + ctx.t("privacy_done_open", numbers=_numbers(report.kept_open))
        return [Reply(text, buttons=(menu_button_row(ctx),))]

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        # Anything but the buttons leaves the confirmation; the message is handled as usual.
        self._restore(ctx)
        return None

    @staticmethod
    def _restore(ctx: Context) -> None:
        back = ctx.state.data.get(BACK)
        ctx.reset()
        if isinstance(back, dict) and isinstance(back.get("step"), str) and back["step"] != STEP:
            data = back.get("data")
            ctx.state.step = back["step"]
            ctx.state.data = data if isinstance(data, dict) else {}


class ErasureOnClosure:
    """A request observer: a request kept open through an erasure is erased when it closes."""

    async def request_changed(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None:
        if request.status in OPEN_STATUSES:
            return
        if await session.privacy.finish_closed(request.id, now=change.at):
            logger.info("request %s closed: the erasure its resident asked for is done", request.id)
