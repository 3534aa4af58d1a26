"""The operator-relay contract: conversations between a resident and the operators, their
messages, forum topics and the staff-chat prompts the bot waits answers to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.identity import UserRef


class RelayStatus(StrEnum):
    """Whether operators and the resident can still write to each other."""

    OPEN = "open"
    CLOSED = "closed"


class RelayDirection(StrEnum):
    """Who wrote a relayed message."""

    IN = "in"  # resident -> operators
    OUT = "out"  # operator -> resident


@dataclass(frozen=True, slots=True)
class RelaySession:
    """One conversation with the operators; ``id`` is the number staff see.

    ``staff_chat`` is where the resident's messages go (a forum topic is ``chat/thread``); it is
    ``None`` until the staff side has resolved it.
    """

    id: int
    resident_id: int
    status: RelayStatus
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    outcome: str | None
    staff_chat: UserRef | None
    header_sent: bool
    request_id: int | None

    @property
    def is_open(self) -> bool:
        return self.status is RelayStatus.OPEN


@dataclass(frozen=True, slots=True)
class RelayMessage:
    """A message relayed one way or the other (text, a photo reference, or both)."""

    id: int
    session_id: int
    direction: RelayDirection
    text: str | None
    photo_ref: str | None
    author: str | None
    forwarded: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StaffPrompt:
    """A question the bot asked an operator and waits the answer to.

    ``action`` says what the answer is for (``reject``: the reason, ``info``: the question for the
    resident); ``card_*`` locate the card to edit once answered.
    """

    id: int
    chat_id: str
    thread_id: int | None
    prompt_message_id: str | None
    user_id: str
    action: str
    request_id: int
    card_chat_id: str | None
    card_message_id: str | None
    created_at: datetime


class RelayStore(Protocol):
    """Relay sessions, messages and forum topics inside the caller's transaction."""

    async def open(self, resident_id: int, *, now: datetime) -> tuple[RelaySession, bool]:
        """The resident's open session, or a new one; True when created."""
        ...

    async def get(self, session_id: int) -> RelaySession | None: ...

    async def open_for(self, resident_id: int) -> RelaySession | None: ...

    async def latest_for(self, resident_id: int) -> RelaySession | None:
        """The resident's newest session, open or closed."""
        ...

    async def close(self, session_id: int, *, by: str, outcome: str, now: datetime) -> bool:
        """Close an open session; False when it was not open (nothing changes)."""
        ...

    async def set_staff_chat(self, session_id: int, chat: UserRef) -> None: ...

    async def mark_header_sent(self, session_id: int) -> None: ...

    async def set_request(self, session_id: int, request_id: int) -> None: ...

    async def add_message(
        self,
        session_id: int,
        direction: RelayDirection,
        *,
        text: str | None,
        photo_ref: str | None,
        now: datetime,
        author: str | None = None,
        forwarded: bool = False,
    ) -> int: ...

    async def messages(self, session_id: int) -> list[RelayMessage]: ...

    async def pending(self, session_id: int) -> list[RelayMessage]:
        """The resident's messages not yet handed to the outbox, oldest first."""
        ...

    async def sessions_with_pending(self, *, limit: int = 100) -> list[int]: ...

    async def mark_forwarded(self, message_ids: list[int]) -> None: ...

    async def topic(self, staff_chat_id: str, resident_id: int) -> int | None:
        """The forum topic (thread id) of the resident in that staff chat."""
        ...

    async def add_topic(
        self, staff_chat_id: str, resident_id: int, thread_id: int, *, now: datetime
    ) -> int:
        """Record the resident's topic unless one exists; return the thread id that won."""
        ...

    async def resident_by_topic(self, staff_chat_id: str, thread_id: int) -> int | None: ...

    async def remember_staff_message(
        self, staff_chat_id: str, message_id: str, session_id: int
    ) -> None: ...

    async def session_by_staff_message(self, staff_chat: UserRef, message_id: str) -> int | None:
        """The session a staff-chat message belongs to (operators reply to it in plain groups);
        ``staff_chat`` is the chat itself, its threads are searched too."""
        ...


class StaffPromptStore(Protocol):
    """Prompts the bot asked operators in staff chats, inside the caller's transaction."""

    async def add(
        self,
        *,
        chat_id: str,
        thread_id: int | None,
        prompt_message_id: str | None,
        user_id: str,
        action: str,
        request_id: int,
        card_chat_id: str | None,
        card_message_id: str | None,
        now: datetime,
    ) -> int: ...

    async def by_reply(self, chat_id: str, prompt_message_id: str) -> StaffPrompt | None:
        """The open prompt a reply answers."""
        ...

    async def latest_for(
        self, chat_id: str, thread_id: int | None, user_id: str, *, since: datetime
    ) -> StaffPrompt | None:
        """The operator's newest open prompt in that chat and thread, asked after ``since``."""
        ...

    async def finish(self, prompt_id: int) -> bool:
        """Mark the prompt answered; False when it already was (a redelivered update)."""
        ...
