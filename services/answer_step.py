"""The one place the request service touches a resident's conversation state.

When staff ask a question (status needs_info), an idle resident is put in ``ANSWER_STEP`` so
their next message is the answer; a resident in the middle of something else keeps their
place and answers with the button. The step itself is registered by ``handlers.requests``.
"""

from __future__ import annotations

from datetime import datetime

from domain.requests import Request
from storage.base import ConversationState, StoreSession

__all__ = ["ANSWER_STEP", "await_answer"]

ANSWER_STEP = "req.answer"


async def await_answer(session: StoreSession, request: Request, *, now: datetime) -> None:
    """Make an idle resident's next message the answer about ``request``."""
    state = await session.conversations.load(request.resident_id)
    if state.step == "idle":
        await session.conversations.save(
            request.resident_id,
            ConversationState(ANSWER_STEP, {"request_id": request.id}),
            now=now,
        )
