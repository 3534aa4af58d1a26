"""What a conversation step sees: the incoming message, the resident, their state, the stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.messages import Button, Incoming, Reply
from domain.metrics import NO_METRICS, Metrics
from domain.payloads import Payload
from domain.texts import Texts
from storage.base import ConversationState, Resident, StoreSession

# A form left halfway (its state data marked ``RESUMABLE``) is kept through a reset under
# ``PAUSED`` as ``{"step": ..., "data": ...}``, so that it can be offered again.
RESUMABLE = "resumable"
PAUSED = "paused"


@dataclass
class Context:
    """One message being handled inside one transaction.

    Steps change ``state`` in place (or call ``reset``); the engine saves it in the same
    transaction as everything else the step wrote, then the replies are sent.
    """

    incoming: Incoming
    resident: Resident
    state: ConversationState
    session: StoreSession
    now: datetime
    texts: Texts
    prepared: dict[str, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # What steps count (consultations...): through ``session.after_commit``, so that only what
    # committed is counted.
    metrics: Metrics = NO_METRICS

    @property
    def lang(self) -> str:
        return self.resident.language

    def t(self, key: str, /, **values: object) -> str:
        return self.texts.get(self.lang, key, **values)

    def button(self, key: str, payload: str) -> Button:
        return Button(self.t(key), payload)

    def reset(self, *, keep_paused: bool = True) -> None:
        """Back to idle. A resumable form left halfway (or one paused before) is kept under
        ``PAUSED``; ``keep_paused=False`` (/cancel, a finished form, an erasure) drops it."""
        paused: object = None
        if keep_paused:
            data = self.state.data
            if data.get(RESUMABLE):
                paused = {"step": self.state.step, "data": data}
            elif isinstance(data.get(PAUSED), dict):
                paused = data[PAUSED]
        self.state.step = "idle"
        self.state.data = {PAUSED: paused} if paused else {}

    def paused(self) -> dict[str, Any] | None:
        """The form kept by ``reset``, if any."""
        paused = self.state.data.get(PAUSED)
        return paused if isinstance(paused, dict) else None

    def go(self, step: str, **data: Any) -> None:
        self.state.step = step
        self.state.data.update(data)


Handler = Callable[[Context], Awaitable[list[Reply]]]
PayloadHandler = Callable[[Context, Payload], Awaitable[list[Reply]]]
# A step handler returns None when the message is not for it (the engine then falls back).
StepHandler = Callable[[Context], Awaitable[list[Reply] | None]]
