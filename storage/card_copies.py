"""The card-copy contract: every message that shows a request's card, to edit them all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.identity import UserRef

__all__ = ["CardCopy", "CardCopyStore"]


@dataclass(frozen=True, slots=True)
class CardCopy:
    """One message showing a request's card: in ``chat``, the platform's ``message_id``,
    its text a media caption when ``caption``."""

    id: int
    request_id: int
    chat: UserRef
    message_id: str
    caption: bool


class CardCopyStore(Protocol):
    """Card copies (``card_copies``); every method runs inside the caller's transaction."""

    async def add(
        self, request_id: int, chat: UserRef, message_id: str, *, caption: bool, now: datetime
    ) -> None:
        """Remember a delivered card; a message already known, or a request that does not
        exist, adds nothing."""
        ...

    async def for_request(self, request_id: int) -> list[CardCopy]:
        """The request's copies, oldest first."""
        ...

    async def remove(self, chat: UserRef, message_id: str) -> None:
        """Forget a copy (its message is gone)."""
        ...
