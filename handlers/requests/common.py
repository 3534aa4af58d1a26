"""What the three request features share: the ``rq`` button action, the step names, and the
replies more than one of them gives (a number not found, the latest question, a cut text)."""

from __future__ import annotations

import logging

from domain.messages import Button, Reply
from domain.payloads import build
from domain.requests import EventKind, Status, StatusChange
from handlers.context import Context
from handlers.menu import menu_button_row
from services import cards

logger = logging.getLogger(__name__)

ACTION = cards.RESIDENT_ACTION  # "rq": ``v1:rq:<command>[:<arg>]``

# The intake form, in order (handlers.requests.intake).
S_CATEGORY = "req.category"
S_DISTRICT = "req.district"
S_CONSENT = "req.consent"
S_ADDRESS = "req.address"
S_DESCRIPTION = "req.description"
S_PHOTOS = "req.photos"
S_PHONE = "req.phone"
S_PHONE_CONFIRM = "req.phone_confirm"
S_SUMMARY = "req.summary"
S_EDIT = "req.edit"
S_RESUME = "req.resume"
# "My requests" (handlers.requests.my_requests) and the answer (handlers.requests.answer).
S_MY = "req.my"
S_ANSWER = "req.answer"

FLOW = (S_CATEGORY, S_DISTRICT, S_CONSENT, S_ADDRESS, S_DESCRIPTION, S_PHOTOS, S_PHONE, S_SUMMARY)
INTAKE_STEPS = frozenset({*FLOW, S_PHONE_CONFIRM, S_EDIT, S_RESUME})
# Fields the summary can send the resident back to, in the order of the edit buttons.
EDITABLE = {
    "category": S_CATEGORY,
    "district": S_DISTRICT,
    "address": S_ADDRESS,
    "description": S_DESCRIPTION,
    "photos": S_PHOTOS,
    "phone": S_PHONE,
}


def cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unknown_step(ctx: Context) -> None:
    """A ``req`` step none of the features knows (a state from an older version): drop it and
    let the message be handled as if the resident were idle."""
    logger.info("unknown request step %s reset", ctx.state.step)
    ctx.reset()


def not_found(ctx: Context, typed: str) -> Reply:
    # The same answer whether the number does not exist or is someone else's.
    rows = ((Button(ctx.t("req_btn_my"), build("req_my")),), menu_button_row(ctx))
    return Reply(ctx.t("req_not_found", number=cut(typed, 40)), buttons=rows)


def latest_question(history: list[StatusChange]) -> str | None:
    """The latest question asked (the note of the latest change to needs_info)."""
    for change in reversed(history):
        if change.event is EventKind.STATUS and change.to_status is Status.NEEDS_INFO:
            return str(change.note) if change.note else None
    return None
