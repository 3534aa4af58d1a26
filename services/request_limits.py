"""The limits of a request and the errors of the request service beyond ``domain.requests``.

``checked_draft`` is the last line for a draft (the intake validates before; an operator may
turn a whole relay conversation into a request); ``clean_note`` trims a staff note.
"""

from __future__ import annotations

from dataclasses import replace

from domain.requests import RequestDraft, RequestError, normalize_phone

__all__ = [
    "MAX_ANSWER",
    "MAX_DESCRIPTION",
    "MAX_STORED_DESCRIPTION",
    "MIN_DESCRIPTION",
    "InvalidDraft",
    "NotAwaitingAnswer",
    "UnknownExecutor",
    "checked_draft",
    "clean_note",
]

# The intake asks for 10-2000 characters; the service itself accepts any non-empty text up to
# the engine's message limit (an operator may turn a whole relay conversation into a request).
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 2000
MAX_STORED_DESCRIPTION = 4000
MAX_ADDRESS = 300
MAX_ANSWER = 2000
MAX_PHOTOS = 10
MAX_NOTE = 1000


class UnknownExecutor(RequestError):
    """No executor with this id in the routing file."""

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        super().__init__(f"unknown executor {executor_id!r}")


class NotAwaitingAnswer(RequestError):
    """The request is not waiting for the resident's answer (no open question)."""


class InvalidDraft(RequestError):
    """A draft that does not satisfy the limits (the intake validates before; this is the
    last line for other callers such as an operator turning a conversation into a request)."""


def checked_draft(draft: RequestDraft) -> RequestDraft:
    """``draft`` trimmed, its phone normalized; ``InvalidDraft``/``InvalidPhone`` otherwise."""
    description = draft.description.strip()
    if not 1 <= len(description) <= MAX_STORED_DESCRIPTION:
        raise InvalidDraft(f"the description must be 1-{MAX_STORED_DESCRIPTION} characters")
    address = draft.address.strip() if draft.address else None
    if address is not None and len(address) > MAX_ADDRESS:
        raise InvalidDraft(f"the address is longer than {MAX_ADDRESS} characters")
    if (draft.latitude is None) != (draft.longitude is None):
        raise InvalidDraft("a location needs both latitude and longitude")
    if len(draft.photos) > MAX_PHOTOS:
        raise InvalidDraft(f"at most {MAX_PHOTOS} photos")
    phone = normalize_phone(draft.phone, international=True) if draft.phone else None
    return replace(draft, description=description, address=address or None, phone=phone)


def clean_note(note: str | None) -> str | None:
    """A staff note trimmed and cut to ``MAX_NOTE``; None when empty."""
    if note is None:
        return None
    text = note.strip()
    return text[:MAX_NOTE] if text else None
