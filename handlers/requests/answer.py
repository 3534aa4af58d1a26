"""Answering the executor's question about a request (status "needs info").

The resident presses "Answer" (``rq:ans:<id>``, on the request's details or on the message
that told them of the question), writes one text, and it goes to the request's history and the
staff card (``RequestService.answer_info``).
"""

from __future__ import annotations

from domain.messages import Button, Kind, Reply
from domain.payloads import Payload, build
from domain.requests import (
    EventKind,
    Request,
    RequestError,
    Status,
    StatusChange,
    format_number,
)
from handlers.context import Context
from handlers.menu import main_menu, menu_button_row
from handlers.registry import Registry
from handlers.requests.common import S_ANSWER, latest_question, not_found, unknown_step
from services import cards
from services.request_limits import NotAwaitingAnswer
from services.requests import RequestService
from storage.base import ConversationState, StoreSession

__all__ = ["AnswerFeature", "AwaitAnswer"]


class AwaitAnswer:
    """When staff ask a question (status needs_info), an idle resident is put in the answer
    step so their next message is the answer; a resident in the middle of something else keeps
    their place and answers with the button. A request observer: it runs in the transaction of
    the change, so the service never needs to know the conversation's step names."""

    async def request_changed(
        self, session: StoreSession, request: Request, change: StatusChange
    ) -> None:
        # A status change to needs_info only: other events (an executor assigned) carry the
        # request's current status too, and must not pull the resident back in.
        if change.event is not EventKind.STATUS or change.to_status is not Status.NEEDS_INFO:
            return
        state = await session.conversations.load(request.resident_id)
        if state.step == "idle":
            await session.conversations.save(
                request.resident_id,
                ConversationState(S_ANSWER, {"request_id": request.id}),
                now=change.at,
            )


class AnswerFeature:
    """Registers the answer step; asks for the answer through ``on_ask`` (``rq:ans``)."""

    def __init__(self, service: RequestService) -> None:
        self.service = service
        service.add_observer(AwaitAnswer())

    def register(self, registry: Registry) -> None:
        registry.step(S_ANSWER, self.on_step)

    async def on_ask(self, ctx: Context, payload: Payload) -> list[Reply]:
        """``rq:ans:<id>``: ask for the answer, if the request still waits for one."""
        arg = payload.arg(1)
        request_id = int(arg) if arg and arg.isdigit() else None
        request = (
            await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            if request_id
            else None
        )
        if request is None:
            return [not_found(ctx, arg or "")]
        if request.status is not Status.NEEDS_INFO:
            status = cards.status_label(ctx.texts, ctx.lang, request.status)
            return [
                Reply(
                    ctx.t("req_answer_not_needed", status=status), buttons=(menu_button_row(ctx),)
                )
            ]
        history = await self.service.history(ctx.session, request.id)
        ctx.reset()  # a request form left halfway is kept (``paused``) for later
        ctx.go(S_ANSWER, request_id=request.id)
        prompt = ctx.t(
            "req_answer_prompt", number=request.number, question=latest_question(history) or "—"
        )
        # The menu's plain Cancel: "cancel the request" would wrongly suggest withdrawing it.
        return [Reply(prompt, buttons=((Button(ctx.t("btn_cancel"), build("cancel")),),))]

    async def on_step(self, ctx: Context) -> list[Reply] | None:
        """The resident's answer."""
        if ctx.state.step != S_ANSWER:
            unknown_step(ctx)
            return None
        request_id = ctx.state.data.get("request_id")
        if not isinstance(request_id, int):
            ctx.reset()
            return [main_menu(ctx)]
        if ctx.incoming.kind is not Kind.TEXT:
            return [Reply(ctx.t("req_answer_text_only"))]
        text = (ctx.incoming.text or "").strip()
        if not text:
            return [Reply(ctx.t("req_answer_empty"))]
        try:
            await self.service.answer_info(ctx.session, request_id, ctx.resident, text)
        except NotAwaitingAnswer:
            ctx.reset()
            request = await self.service.get_for_resident(ctx.session, ctx.resident.id, request_id)
            status = cards.status_label(ctx.texts, ctx.lang, request.status) if request else "—"
            return [
                Reply(
                    ctx.t("req_answer_not_needed", status=status), buttons=(menu_button_row(ctx),)
                )
            ]
        except RequestError:
            ctx.reset()
            return [not_found(ctx, str(request_id))]
        ctx.reset()
        number = format_number(request_id)
        rows = ((Button(ctx.t("req_btn_my"), build("req_my")),), menu_button_row(ctx))
        return [Reply(ctx.t("req_answer_sent", number=number), buttons=rows)]
