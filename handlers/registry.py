"""Where features plug into the conversation: button actions, commands, steps and fallbacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from domain.messages import Kind
from domain.payloads import CATALOGUE
from handlers.context import Context, Handler, PayloadHandler, StepHandler

Preparer = Callable[[Context], Awaitable[None]]


class RegistryError(Exception):
    """Two features claimed the same action, command or step."""


@dataclass
class Registry:
    """The routing table the engine consults; filled once at wiring time."""

    actions: dict[str, PayloadHandler] = field(default_factory=dict)
    commands: dict[str, Handler] = field(default_factory=dict)
    steps: dict[str, StepHandler] = field(default_factory=dict)
    idle: dict[Kind, Handler] = field(default_factory=dict)
    interceptors: list[StepHandler] = field(default_factory=list)
    photo_steps: set[str] = field(default_factory=set)

    def action(self, name: str, handler: PayloadHandler) -> None:
        if name in self.actions:
            raise RegistryError(f"action {name!r} registered twice")
        _declared(name)
        self.actions[name] = handler

    def default_action(self, name: str, handler: PayloadHandler) -> None:
        """Register ``handler`` only if no feature claimed ``name`` (placeholders for what is
        not built yet)."""
        _declared(name)
        self.actions.setdefault(name, handler)

    def command(self, name: str, handler: Handler) -> None:
        if name in self.commands:
            raise RegistryError(f"command /{name} registered twice")
        self.commands[name] = handler

    def step(self, prefix: str, handler: StepHandler, *, takes_photos: bool = False) -> None:
        """Handle every state whose step is ``prefix`` or starts with ``prefix + '.'``;
        ``takes_photos``: a photo sent in this step is kept (the request form, the relay), so
        a channel whose pictures expire downloads it (``takes_photo``)."""
        if prefix in self.steps:
            raise RegistryError(f"step {prefix!r} registered twice")
        self.steps[prefix] = handler
        if takes_photos:
            self.photo_steps.add(prefix)

    def intercept(self, handler: StepHandler) -> None:
        """Run ``handler`` on every text (and photo caption) before anything else, whatever
        step the resident is in; it returns None to let the message go on. Interceptors run in
        registration order: the crisis check is registered first."""
        self.interceptors.append(handler)

    def on_idle(self, kind: Kind, handler: Handler) -> None:
        """What to do with a message of ``kind`` when the resident is not inside a flow."""
        self.idle[kind] = handler

    def step_handler(self, step: str) -> StepHandler | None:
        prefix = self._registered_prefix(step)
        return self.steps[prefix] if prefix is not None else None

    def takes_photo(self, step: str) -> bool:
        """Whether a photo sent in ``step`` is kept with what the step builds."""
        prefix = self._registered_prefix(step)
        return prefix is not None and prefix in self.photo_steps

    def _registered_prefix(self, step: str) -> str | None:
        prefix = step
        while prefix:
            if prefix in self.steps:
                return prefix
            prefix = prefix.rpartition(".")[0]
        return None


def _declared(action: str) -> None:
    if action not in CATALOGUE:
        raise RegistryError(f"action {action!r} is not in domain.payloads.CATALOGUE")


class Feature(Protocol):
    """A part of the conversation (menu, consultations, requests...) that registers itself."""

    def register(self, registry: Registry) -> None: ...
