"""What the bot counts for its operators: the events, not how they are exported.

The conversation (``handlers``), the request lifecycle (``services``) and the delivery worker,
deadlines and follow-ups (``notifications``) report events through :class:`Metrics`; the
composition root gives them ``bot.ops.PrometheusMetrics``, which turns them into Prometheus
counters on a registry of the process's own (``/metrics``). Why a protocol here rather than the
Prometheus objects themselves in a low-level module: the low layers stay free of the exporter
(no ``prometheus_client`` import below ``bot/``, as no ``aiogram`` is), a registry per process
needs the objects to be handed around anyway (a module of global counters could not give each
test a registry of its own), and everything built without the root, such as most tests, gets
:data:`NO_METRICS`, which counts nothing.

Every argument is a bounded enumeration (a channel name, an outcome, a decision, a category
code, a status): never a user id, a chat id, a phone number or a text, since a label value is
kept and shown as it is.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_METRICS", "Metrics", "NoMetrics"]


class Metrics(Protocol):
    """The events counted; see the module docstring for what an argument may be."""

    def update_handled(self, channel: str, outcome: str, seconds: float) -> None:
        """One incoming update: ``outcome`` is ``ok``, ``duplicate``, ``busy`` or ``error``."""
        ...

    def consultation(self, decision: str, source: str) -> None:
        """A consultation committed: ``decision`` is ``answer``, ``suggest`` or ``unknown``;
        ``source`` is where it came from (``text``, ``menu``, ``suggestion``, ``shelter``,
        ``crisis``)."""
        ...

    def request_created(self, category: str) -> None: ...

    def request_closed(self, status: str) -> None:
        """A request moved to ``done`` or ``rejected``."""
        ...

    def deadline_breached(self, kind: str) -> None:
        """A missed ``acknowledge`` or ``resolve`` deadline escalated (once per deadline)."""
        ...

    def delivery(self, channel: str, outcome: str) -> None:
        """One delivery attempt, by the outbox worker or of an update's replies right after
        the update: ``sent``, ``retried``, ``rate_limited``, ``dead_letter``, ``blocked`` or
        ``error``."""
        ...

    def followup_answer(self, answer: str) -> None:
        """A resident's answer to "was it really done?": ``yes``, ``partly``, ``no``."""
        ...

    def followup_rating(self, rating: int) -> None:
        """A resident's rating, 1 to 5."""
        ...


class NoMetrics:
    """Counts nothing: the default wherever no exporter is wired."""

    def update_handled(self, channel: str, outcome: str, seconds: float) -> None:
        pass

    def consultation(self, decision: str, source: str) -> None:
        pass

    def request_created(self, category: str) -> None:
        pass

    def request_closed(self, status: str) -> None:
        pass

    def deadline_breached(self, kind: str) -> None:
        pass

    def delivery(self, channel: str, outcome: str) -> None:
        pass

    def followup_answer(self, answer: str) -> None:
        pass

    def followup_rating(self, rating: int) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
