"""Crisis first: a message that shows a person in danger is answered with the emergency numbers
before anything else, in every step of every flow, and the operators are told at once.

The check is an interceptor (``Registry.intercept``) registered before every other feature, so
it sees every text and photo caption, also in the middle of a request form, the operator relay
or a follow-up, and never lets such a message reach the FAQ matcher. What the bot says comes from
``faq/data/crisis.yaml``; how a crisis is recognised, from ``faq/data/crisis_signals.yaml``
(rules) and ``faq/data/crisis_examples.yaml`` (labelled examples; see ``faq/crisis.py``).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Protocol

from domain.messages import Button, Reply, said
from domain.payloads import build
from faq.crisis import CrisisCategory, CrisisContent, CrisisDetector, Hotline
from faq.matcher import Decision
from handlers.context import Context
from handlers.menu import menu_button_row
from handlers.registry import Registry
from storage.consultations import NewConsultation

__all__ = ["CONSULTATION_SOURCE", "CrisisAlert", "CrisisFeature"]

logger = logging.getLogger(__name__)

CONSULTATION_SOURCE = "crisis"
STAFF_LANGUAGE = "uk"


class CrisisAlert(Protocol):
    """Puts the resident's message before the operators with an urgent note (the relay);
    returns False when there is nobody to tell."""

    async def __call__(self, ctx: Context, note: str) -> bool: ...


class CrisisFeature:
    """Registers the crisis check; register it before every other feature."""

    def __init__(
        self,
        content: CrisisContent,
        detector: CrisisDetector,
        *,
        alert: CrisisAlert | None = None,
        staff_language: str = STAFF_LANGUAGE,
    ) -> None:
        self.content = content
        self.detector = detector
        self.alert = alert
        self.staff_language = staff_language

    def register(self, registry: Registry) -> None:
        registry.intercept(self.on_message)

    async def on_message(self, ctx: Context) -> list[Reply] | None:
        crisis = self.detector.detect(said(ctx.incoming))
        if crisis is None:
            return None
        # Ids and categories only: what the person wrote stays out of the log.
        logger.warning(
            "crisis (%s) from resident %s in step %s",
            ",".join(crisis.categories),
            ctx.resident.id,
            ctx.state.step,
        )
        category = self.content.category(crisis.primary)
        hotlines = self.content.numbers_for(crisis.categories)
        await ctx.session.consultations.record(
            NewConsultation(
                resident_id=ctx.resident.id,
                channel=ctx.incoming.user.channel,
                topic=f"crisis_{category.id}",
                source=CONSULTATION_SOURCE,
                matched=True,
            ),
            now=ctx.now,
        )
        ctx.session.after_commit(
            partial(ctx.metrics.consultation, Decision.ANSWER.value, CONSULTATION_SOURCE)
        )
        told = False
        if self.alert is not None:
            note = ctx.texts.get(
                self.staff_language,
                "crisis_staff_alert",
                category=category.title.get(self.staff_language),
                numbers=", ".join(spoken(h.number) for h in hotlines),
            )
            told = await self.alert(ctx, note)
        return [self._reply(ctx, category, hotlines, told=told)]

    def _reply(
        self, ctx: Context, category: CrisisCategory, hotlines: tuple[Hotline, ...], *, told: bool
    ) -> Reply:
        numbers = [ctx.t("crisis_call_now")]
        numbers += [
            ctx.t("crisis_number_line", number=spoken(h.number), label=h.label.get(ctx.lang))
            for h in hotlines
        ]
        parts = ["\n".join(numbers), category.answer.get(ctx.lang)]
        parts.append(ctx.t("crisis_operator_told") if told else ctx.t("crisis_no_operator"))
        rows: list[tuple[Button, ...]] = []
        if told:
            rows.append((Button(ctx.t("btn_crisis_operator"), build("operator")),))
        if ctx.state.step == "idle":
            rows.append(menu_button_row(ctx))
        else:
            # The step the person was in is kept (a half-filled request form, the relay): the
            # menu button would drop it, so it is not offered here.
            parts.append(ctx.t("crisis_flow_kept"))
        return Reply(
            "\n\n".join(parts), title="🆘 " + category.title.get(ctx.lang), buttons=tuple(rows)
        )


def spoken(number: str) -> str:
    """How a number is written for people: 116123 as "116 123", the rest as they are."""
    return f"{number[:3]} {number[3:]}" if len(number) == 6 else number
