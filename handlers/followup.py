"""The resident's side of "was it really done?": Так / Частково / Ні, a 1-5 rating, an optional
comment, or the reason that reopens the request.

The question arrives through the outbox (``services.followups``); its buttons come back here.
Every answer is checked against the resident who presses it (a follow-up of someone else gets the
same answer as one that does not exist) and against the answer window (``FOLLOWUP_ANSWER_DAYS``).
"""

from __future__ import annotations

from domain.messages import Kind, Reply
from domain.payloads import Payload
from handlers.context import Context
from handlers.menu import main_menu
from handlers.registry import Registry
from services.followups import (
    ACTION_ANSWER,
    ACTION_RATE,
    ACTION_SKIP,
    OUTCOME_CODES,
    FollowupAccess,
    FollowupService,
)
from storage.followups import Followup, FollowupOutcome

STEP = "followup"
STEP_REASON = "followup.reason"
STEP_COMMENT = "followup.comment"


class FollowupFeature:
    """Registers the follow-up buttons and the reason/comment steps."""

    def __init__(self, service: FollowupService) -> None:
        self.service = service

    def register(self, registry: Registry) -> None:
        registry.action(ACTION_ANSWER, self.on_answer)
        registry.action(ACTION_RATE, self.on_rate)
        registry.action(ACTION_SKIP, self.on_skip)
        registry.step(STEP, self.on_text)

    async def _open(self, ctx: Context, raw_id: str | None) -> Followup | list[Reply]:
        """The follow-up the button names, or the replies that refuse it."""
        if raw_id is None or not raw_id.isdigit():
            return [Reply(ctx.t("stale_button")), main_menu(ctx)]
        found = await self.service.open_for(ctx.session, int(raw_id), ctx.resident.id)
        if isinstance(found, Followup):
            return found
        if found == FollowupAccess.LOCKED:
            ctx.reset()
            return [Reply(ctx.t("ntf_fu_locked")), main_menu(ctx, with_title=False)]
        return [Reply(ctx.t("stale_button")), main_menu(ctx)]

    async def on_answer(self, ctx: Context, payload: Payload) -> list[Reply]:
        followup = await self._open(ctx, payload.arg(0))
        if not isinstance(followup, Followup):
            return followup
        outcome = OUTCOME_CODES.get(payload.arg(1) or "")
        if outcome is None:
            return [Reply(ctx.t("stale_button")), main_menu(ctx)]
        if not await self.service.record_outcome(ctx.session, followup, outcome):
            return [Reply(ctx.t("ntf_fu_already")), main_menu(ctx, with_title=False)]
        if outcome is FollowupOutcome.YES:
            ctx.reset()
            return [Reply(ctx.t("ntf_fu_rate"), buttons=self.service.rating_buttons(followup))]
        ctx.reset()
        ctx.go(STEP_REASON, followup_id=followup.id)
        return [Reply(ctx.t("ntf_fu_reason"), buttons=self.service.skip_button(followup, ctx.lang))]

    async def on_rate(self, ctx: Context, payload: Payload) -> list[Reply]:
        followup = await self._open(ctx, payload.arg(0))
        if not isinstance(followup, Followup):
            return followup
        raw = payload.arg(1) or ""
        if followup.outcome is not FollowupOutcome.YES or raw not in {"1", "2", "3", "4", "5"}:
            return [Reply(ctx.t("stale_button")), main_menu(ctx)]
        await self.service.record_rating(ctx.session, followup, int(raw))
        ctx.reset()
        ctx.go(STEP_COMMENT, followup_id=followup.id)
        return [
            Reply(ctx.t("ntf_fu_comment"), buttons=self.service.skip_button(followup, ctx.lang))
        ]

    async def on_skip(self, ctx: Context, payload: Payload) -> list[Reply]:
        followup = await self._open(ctx, payload.arg(0))
        if not isinstance(followup, Followup):
            return followup
        ctx.reset()
        if followup.outcome in {FollowupOutcome.PARTLY, FollowupOutcome.NO}:
            return await self._reason(ctx, followup, None)
        return [Reply(ctx.t("ntf_fu_thanks")), main_menu(ctx, with_title=False)]

    async def on_text(self, ctx: Context) -> list[Reply] | None:
        if ctx.incoming.kind is not Kind.TEXT or not (ctx.incoming.text or "").strip():
            return None
        raw_id = ctx.state.data.get("followup_id")
        step = ctx.state.step
        ctx.reset()
        followup = await self._open(ctx, str(raw_id) if raw_id is not None else None)
        if not isinstance(followup, Followup):
            return followup
        text = (ctx.incoming.text or "").strip()
        if step == STEP_REASON:
            return await self._reason(ctx, followup, text)
        await self.service.record_comment(ctx.session, followup, text)
        return [Reply(ctx.t("ntf_fu_comment_saved")), main_menu(ctx, with_title=False)]

    async def _reason(self, ctx: Context, followup: Followup, reason: str | None) -> list[Reply]:
        reopened = await self.service.give_reason(ctx.session, followup, reason)
        request = reopened or await ctx.session.requests.get(followup.request_id)
        number = request.number if request is not None else str(followup.request_id)
        if reopened is not None:
            return [Reply(ctx.t("ntf_fu_reopened", number=number))]
        return [Reply(ctx.t("ntf_fu_not_reopened", number=number))]
