"""What a resident is told about their request's changes (plain text in their language)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from domain.messages import Button, Reply
from domain.payloads import build
from domain.requests import Request, Status, StatusChange
from domain.texts import Texts
from services import cards

__all__ = ["status_message"]

# Statuses whose staff comment is shown under the update.
_WITH_COMMENT = frozenset({Status.ACCEPTED, Status.IN_PROGRESS, Status.DONE})


def status_message(
    request: Request, change: StatusChange, language: str, *, texts: Texts, tz: ZoneInfo
) -> Reply:
    """The update about ``change``: "Відповісти" under a question, then details and the list."""
    t = texts.get
    deadline = cards.format_local(request.resolve_due, tz)
    category = t(language, f"req_cat_{request.category.value}")
    status = request.status
    text = t(
        language,
        f"req_update_{status.value}",
        number=request.number,
        category=category,
        deadline=deadline,
        note=change.note or "",
    )
    if change.note and status in _WITH_COMMENT:
        text += "\n" + t(language, "req_update_comment", note=change.note)
    rows: list[tuple[Button, ...]] = []
    if status is Status.NEEDS_INFO:
        rows.append(
            (
                Button(
                    t(language, "req_btn_answer"),
                    build(cards.RESIDENT_ACTION, "ans", request.id),
                ),
            )
        )
    rows.append(
        (
            Button(
                t(language, "req_btn_details"),
                build(cards.RESIDENT_ACTION, "open", request.id),
            ),
            Button(t(language, "req_btn_my"), build(cards.MY_REQUESTS_ACTION)),
        )
    )
    return Reply(text=text, buttons=tuple(rows))
