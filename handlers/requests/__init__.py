"""Requests in the conversation, one module per job:

- ``intake``: the request form, from the category to the confirmed request (``req_new``, the
  form's steps); ``prompts``: what each step of the form shows;
- ``my_requests``: the resident's list, a request's details, a request number typed anywhere
  (``req_my``, ``req.my``, the number check);
- ``answer``: answering the executor's question (``req.answer``);
- ``common``: what they share (the ``rq`` action, step names, a few replies).

Their buttons share one action, ``rq`` (``v1:rq:<command>[:<arg>]``, on residents' screens and
in notifications already sent), and the registry takes one handler per action: so this package
is wired as one feature, ``RequestsFeature``, which registers the three and routes each ``rq``
command to the feature that owns it.
"""

from __future__ import annotations

from domain.messages import Reply
from domain.payloads import Payload
from handlers.context import Context, PayloadHandler
from handlers.registry import Registry
from handlers.requests.answer import AnswerFeature
from handlers.requests.common import ACTION
from handlers.requests.intake import IntakeFeature
from handlers.requests.my_requests import MyRequestsFeature
from services.requests import RequestService

__all__ = ["AnswerFeature", "IntakeFeature", "MyRequestsFeature", "RequestsFeature"]


class RequestsFeature:
    """The intake, "my requests" and the answer, wired together."""

    def __init__(self, service: RequestService) -> None:
        self.intake = IntakeFeature(service)
        self.my_requests = MyRequestsFeature(service)
        self.answer = AnswerFeature(service)
        # Every other command (the form's, and any unknown one) is the intake's: it answers a
        # button that is not for the current step as out of date.
        self._buttons: dict[str, PayloadHandler] = {
            "open": self.my_requests.on_open,
            "ans": self.answer.on_ask,
        }

    def register(self, registry: Registry) -> None:
        self.intake.register(registry)
        self.my_requests.register(registry)
        self.answer.register(registry)
        registry.action(ACTION, self.on_button)

    async def on_button(self, ctx: Context, payload: Payload) -> list[Reply]:
        handler = self._buttons.get(payload.arg(0) or "", self.intake.on_button)
        return await handler(ctx, payload)
