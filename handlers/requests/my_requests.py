"""'My requests': the resident's list, one request's details, and a request number typed
anywhere (``1520-000123``) shown to its owner.

Looking at the list in the middle of the intake form keeps the form (``paused`` in the state),
so the menu's "New request" can resume it.
"""

from __future__ import annotations

from domain.messages import Button, Kind, Reply
from domain.payloads import Payload, build
from domain.requests import STAFF_ONLY_EVENTS, Request, Status, find_number, parse_number
from handlers.context import PAUSED, Context
from handlers.menu import menu_button_row
from handlers.registry import Registry
from handlers.relay import RELAY_STEP
from handlers.requests.common import (
    ACTION,
    INTAKE_STEPS,
    S_ANSWER,
    S_MY,
    cut,
    latest_question,
    not_found,
    unknown_step,
)
from services import cards
from services.requests import RequestService

__all__ = ["MyRequestsFeature"]

MY_LIMIT = 10


class MyRequestsFeature:
    """Registers ``req_my``, the ``req.my`` step and the typed-number check; answers the list's
    ``rq:open`` buttons through ``on_open``."""

    def __init__(self, service: RequestService) -> None:
        self.service = service

    def register(self, registry: Registry) -> None:
        registry.action("req_my", self.on_my)
        registry.step(S_MY, self.on_step)
        registry.intercept(self.on_number)

    async def on_my(self, ctx: Context, _payload: Payload) -> list[Reply]:
        return await self._my_list(ctx)

    async def on_number(self, ctx: Context) -> list[Reply] | None:
        """A request number typed anywhere shows that request, when it is the resident's own.

        Not while the words are for someone else (the operator relay, an answer to the
        executor's question); inside the request form only a message that is nothing but a
        number, since "1520-000123 знову тече" may be the new request's description.
        """
        step = ctx.state.step
        if ctx.incoming.kind is not Kind.TEXT or step in (S_ANSWER, RELAY_STEP):
            return None
        text = (ctx.incoming.text or "").strip()
        request_id = find_number(text, whole=step in INTAKE_STEPS)
        if request_id is None:
            return None
        request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
        if request is None:
            return [not_found(ctx, text)]
        if step not in INTAKE_STEPS and step != S_MY:
            paused = ctx.paused()
            ctx.state.step = S_MY
            ctx.state.data = {PAUSED: paused} if paused else {}
        return await self._details(ctx, request)

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        """A message while the list is shown: a request number opens it; anything else goes on
        (to the consultations)."""
        if ctx.state.step != S_MY:
            unknown_step(ctx)
            return None
        if ctx.incoming.kind is not Kind.TEXT:
            return None
        text = (ctx.incoming.text or "").strip()
        request_id = parse_number(text)
        if request_id is None:
            return None  # not a number: let the consultations answer it
        request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
        if request is None:
            return [not_found(ctx, text)]
        return await self._details(ctx, request)

    async def on_open(self, ctx: Context, payload: Payload) -> list[Reply]:
        """``rq:open:<id>``: a request's button in the list."""
        arg = payload.arg(1)
        request_id = int(arg) if arg and arg.isdigit() else None
        request = (
            await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            if request_id
            else None
        )
        if request is None:
            return [not_found(ctx, arg or "")]
        if ctx.state.step not in INTAKE_STEPS:
            paused = ctx.paused()
            ctx.state.step = S_MY
            ctx.state.data = {PAUSED: paused} if paused else {}
        return await self._details(ctx, request)

    async def _my_list(self, ctx: Context) -> list[Reply]:
        requests = await self.service.list_for_resident(ctx.session, ctx.resident.id, MY_LIMIT)
        # An intake interrupted to look at the list is kept, so "New request" can resume it.
        paused = ctx.paused()
        if ctx.state.step in INTAKE_STEPS:
            paused = {"step": ctx.state.step, "data": ctx.state.data}
        ctx.state.step = S_MY
        ctx.state.data = {PAUSED: paused} if paused else {}
        if not requests:
            rows = (
                (Button(ctx.t("btn_new_request"), build("req_new")),),
                menu_button_row(ctx),
            )
            return [Reply(ctx.t("req_my_empty"), title=ctx.t("req_my_title"), buttons=rows)]
        tz = self.service.clock.tz
        lines: list[str] = []
        buttons: list[tuple[Button, ...]] = []
        for request in requests:
            status = cards.status_label(ctx.texts, ctx.lang, request.status)
            lines.append(
                ctx.t(
                    "req_my_line",
                    number=request.number,
                    category=ctx.t(f"req_cat_{request.category.value}"),
                    status=status,
                    deadline=cards.format_local(request.resolve_due, tz),
                )
                if request.is_open
                else ctx.t(
                    "req_my_line_closed",
                    number=request.number,
                    category=ctx.t(f"req_cat_{request.category.value}"),
                    status=status,
                )
            )
            buttons.append(
                (
                    Button(
                        ctx.t("req_my_button", number=request.number, status=status),
                        build(ACTION, "open", request.id),
                    ),
                )
            )
        buttons.append(menu_button_row(ctx))
        text = ctx.t("req_my_intro") + "\n\n" + "\n\n".join(lines)
        return [Reply(text, title=ctx.t("req_my_title"), buttons=tuple(buttons))]

    async def _details(self, ctx: Context, request: Request) -> list[Reply]:
        tz = self.service.clock.tz
        history = await self.service.history(ctx.session, request.id)
        executor = self.service.routing.executors.get(request.executor_id)
        address = request.address
        if address is None and request.has_location:
            address = ctx.t(
                "req_summary_location",
                latitude=f"{request.latitude:.5f}",
                longitude=f"{request.longitude:.5f}",
            )
        text = ctx.t(
            "req_details",
            category=ctx.t(f"req_cat_{request.category.value}"),
            district=cards.district_label(ctx.texts, ctx.lang, request),
            address=address or ctx.t("req_summary_no_address"),
            description=cut(request.description or "—", 1000),
            status=cards.status_label(ctx.texts, ctx.lang, request.status),
            executor=executor.name if executor else request.executor_id,
            deadline=cards.format_local(request.resolve_due, tz),
            created=cards.format_local(request.created_at, tz),
        )
        parts = [text]
        if history:
            lines = [
                cards.history_line(
                    ctx.texts, ctx.lang, change, tz, self.service.routing, with_actor=False
                )
                for change in history
                if change.event not in STAFF_ONLY_EVENTS
            ]
            parts.append(ctx.t("req_details_history") + "\n" + "\n".join(lines))
        rows: list[tuple[Button, ...]] = []
        if request.status is Status.NEEDS_INFO:
            question = latest_question(history)
            if question:
                parts.append(ctx.t("req_details_question", question=question))
            rows.append((Button(ctx.t("req_btn_answer"), build(ACTION, "ans", request.id)),))
        rows.append((Button(ctx.t("req_btn_back_to_list"), build("req_my")),))
        rows.append(menu_button_row(ctx))
        return [
            Reply(
                "\n\n".join(parts),
                title=ctx.t("req_details_title", number=request.number),
                buttons=tuple(rows),
            )
        ]
