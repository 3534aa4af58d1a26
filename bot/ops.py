"""Operations endpoints on a listener of their own, and the Prometheus metrics behind them.

``OPS_HOST:OPS_PORT`` (``127.0.0.1:8081``; an empty ``OPS_PORT`` turns it off), in every mode
(console, worker, polling, webhook), apart from the webhook server so that it can stay on
loopback or a private network:

* ``GET /healthz``: 200 ``{"status": "ok"}`` while the process is alive (the event loop answers).
* ``GET /readyz``: 200 with every check ``ok``, else 503 naming what is wrong (``failing``):
  ``database`` (a real, tiny write transaction commits within :data:`CHECK_TIMEOUT`: a database
  locked by another process or not writable fails), ``migrations`` (the database is at the
  newest migration this code knows), ``delivery_worker`` and ``scheduler`` (their tasks run),
  and ``shutdown`` (503 ``shutting down`` from the first step of a graceful stop on). ``role``
  says what this instance does about the deployment-wide jobs: ``leader`` (delivers and
  schedules), ``follower`` (idle by design, ready to take over: its worker and scheduler are
  not asked for, only that it keeps competing for the lead), ``web`` (``python -m bot web``:
  webhooks only). ``bot_leader`` (1 or 0) in ``/metrics`` says the same.
* ``GET /metrics``: the Prometheus text format (``prometheus-client``) of a registry of this
  process's own (a test can build several). The low layers report events through
  ``domain.metrics.Metrics``; :class:`PrometheusMetrics` is the implementation the composition
  root hands them. Label values are bounded enumerations only (channel, outcome, decision,
  category, status): never a user id, chat id, phone number or text. The outbox gauges are read
  from the database when scraped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from domain.clock import Clock
from domain.identity import CHAT_CHANNELS
from storage.base import Storage
from storage.errors import ConfigurationError, StorageBusy
from storage.maintenance import DatabaseHealth

__all__ = ["CHECK_TIMEOUT", "OpsServer", "PrometheusMetrics"]

logger = logging.getLogger(__name__)

# How long one readiness check or the outbox query of a scrape may take: an orchestrator asks
# every few seconds and gives up after a few more.
CHECK_TIMEOUT = 2.0

UPDATE_OUTCOMES = ("ok", "duplicate", "busy", "error")
DELIVERY_OUTCOMES = ("sent", "retried", "rate_limited", "dead_letter", "blocked", "error")
# Seconds: a consultation takes milliseconds, a busy database up to its busy timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusMetrics:
    """``domain.metrics.Metrics`` as Prometheus counters on :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "bot_updates",
            "Incoming updates handled, by channel and outcome (ok, duplicate, busy, error)",
            ["channel", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "bot_update_handling_seconds",
            "Time from an update's arrival in the conversation to its result, by channel",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consultations = Counter(
            "bot_consultations",
            "Consultations, by the matcher's decision (answer, suggest, unknown) and source",
            ["decision", "source"],
            registry=r,
        )
        self.requests_created = Counter(
            "bot_requests_created", "Requests filed, by category", ["category"], registry=r
        )
        self.requests_closed = Counter(
            "bot_requests_closed",
            "Requests closed, by status (done, rejected)",
            ["status"],
            registry=r,
        )
        self.deadline_breaches = Counter(
            "bot_deadline_breaches",
            "Missed deadlines escalated, by kind (acknowledge, resolve)",
            ["kind"],
            registry=r,
        )
        self.deliveries = Counter(
            "bot_deliveries",
            "Delivery attempts (the outbox worker and the replies to updates), by channel and"
            " outcome"
            " (sent, retried, rate_limited, dead_letter, blocked, error)",
            ["channel", "outcome"],
            registry=r,
        )
        self.followup_answers = Counter(
            "bot_followup_answers",
            'Answers to "was it really done?" (yes, partly, no)',
            ["answer"],
            registry=r,
        )
        self.followup_ratings = Counter(
            "bot_followup_ratings", "Follow-up ratings given, 1 to 5", ["rating"], registry=r
        )
        self.outbox_pending = Gauge(
            "bot_outbox_pending",
            "Outbox messages waiting to be sent (due or not yet), read when scraped",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "bot_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox message (0 when none), read when scraped",
            registry=r,
        )
        self.leader = Gauge(
            "bot_leader",
            "1 while this instance is the elected leader (delivers the outbox and runs the"
            " scheduled jobs), else 0",
            registry=r,
        )
        ProcessCollector(registry=r)
        # Every series that exists from the start: a rate() over a new label set needs its zero.
        for channel in CHAT_CHANNELS:
            for outcome in UPDATE_OUTCOMES:
                self.updates.labels(channel.value, outcome)
            for outcome in DELIVERY_OUTCOMES:
                self.deliveries.labels(channel.value, outcome)

    def update_handled(self, channel: str, outcome: str, seconds: float) -> None:
        self.updates.labels(channel, outcome).inc()
        self.latency.labels(channel).observe(seconds)

    def consultation(self, decision: str, source: str) -> None:
        self.consultations.labels(decision, source).inc()

    def request_created(self, category: str) -> None:
        self.requests_created.labels(category).inc()

    def request_closed(self, status: str) -> None:
        self.requests_closed.labels(status).inc()

    def deadline_breached(self, kind: str) -> None:
        self.deadline_breaches.labels(kind).inc()

    def delivery(self, channel: str, outcome: str) -> None:
        self.deliveries.labels(channel, outcome).inc()

    def followup_answer(self, answer: str) -> None:
        self.followup_answers.labels(answer).inc()

    def followup_rating(self, rating: int) -> None:
        self.followup_ratings.labels(str(rating)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Running(Protocol):
    """What the readiness checks ask of the delivery worker and the scheduler
    (``bot.notifier.Notifier``)."""

    @property
    def worker_running(self) -> bool: ...

    @property
    def scheduler_running(self) -> bool: ...

    @property
    def role(self) -> str:
        """``leader``, ``follower`` or ``starting`` (taking over)."""
        ...

    @property
    def election_running(self) -> bool: ...


class OpsServer:
    """The ops listener: :meth:`start` (nothing without a port), :meth:`begin_shutdown`,
    :meth:`stop`. :attr:`notifier` is set once the worker and scheduler run."""

    def __init__(
        self,
        metrics: PrometheusMetrics,
        *,
        storage: Storage,
        database: DatabaseHealth,
        clock: Clock,
        timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.metrics = metrics
        self.storage = storage
        self.database = database
        self.clock = clock
        self.timeout = timeout
        self.notifier: Running | None = None
        # False in ``python -m bot web``: no worker or scheduler here, by design.
        self.delivers = True
        self.shutting_down = False
        self._runner: web.AppRunner | None = None

    # -- the listener ------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self, host: str, port: int | None) -> None:
        """Listen on ``host:port``; a port already taken is a ``ConfigurationError`` naming
        ``OPS_PORT`` (one line at start-up, exit code 2)."""
        if port is None:
            return
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigurationError(
                f"OPS_PORT: cannot listen on {host}:{port} ({error.strerror or error})"
            ) from error
        self._runner = runner
        logger.info("ops endpoints on http://%s:%s (/healthz, /readyz, /metrics)", host, port)

    def begin_shutdown(self) -> None:
        """From now on ``/readyz`` answers 503 ``shutting down``."""
        self.shutting_down = True

    async def stop(self) -> None:
        self.shutting_down = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the checks --------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """Each check's answer: ``ok`` or what is wrong."""
        if self.shutting_down:
            # The database may be closing: nothing else is asked.
            return {"shutdown": "shutting down"}
        checks = {
            "database": await self._check(self._database),
            "migrations": await self._check(self._migrations),
            "delivery_worker": "ok",
            "scheduler": "ok",
            "shutdown": "ok",
        }
        notifier = self.notifier
        if not self.delivers:
            pass  # webhooks only: the elected instances deliver and schedule
        elif notifier is None:
            checks["delivery_worker"] = checks["scheduler"] = "not started"
        elif notifier.role != "leader":
            # A follower's worker and scheduler are idle by design: it is ready as long as it
            # competes for the lead (and takes over when the leader goes).
            if not notifier.election_running:
                checks["delivery_worker"] = checks["scheduler"] = "leader election not running"
        else:
            if not notifier.worker_running:
                checks["delivery_worker"] = "not running"
            if not notifier.scheduler_running:
                checks["scheduler"] = "not running"
        return checks

    @property
    def role(self) -> str:
        """``leader``, ``follower``, ``starting``, ``web`` or ``not started``."""
        if not self.delivers:
            return "web"
        return self.notifier.role if self.notifier is not None else "not started"

    async def _check(self, check: Callable[[], Coroutine[Any, Any, str]]) -> str:
        try:
            answer = await asyncio.wait_for(check(), self.timeout)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except StorageBusy:
            return "not writable: locked by another process"
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return answer

    async def _database(self) -> str:
        await self.database.probe_write()
        return "ok"

    async def _migrations(self) -> str:
        applied = await self.database.schema_version()
        known = self.database.known_schema_version()
        if applied != known:
            return f"database at migration {applied}, this code's newest is {known}"
        return "ok"

    async def refresh_outbox(self) -> None:
        """Read the outbox gauges from the database (a read-only snapshot)."""

        async def read() -> None:
            async with self.storage.snapshot() as session:
                backlog = await session.outbox.backlog()
            self.metrics.outbox_pending.set(backlog.pending)
            age = 0.0
            if backlog.oldest_created_at is not None:
                age = max(0.0, (self.clock.now() - backlog.oldest_created_at).total_seconds())
            self.metrics.outbox_oldest_age.set(age)

        try:
            await asyncio.wait_for(read(), self.timeout)
        except Exception:
            # The last values stay; the scrape itself must not fail.
            logger.warning("outbox gauges not refreshed", exc_info=True)

    # -- the handlers ------------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        checks = await self.readiness()
        failing = sorted(name for name, answer in checks.items() if answer != "ok")
        if not failing:
            return web.json_response({"status": "ready", "role": self.role, "checks": checks})
        status = "shutting down" if self.shutting_down else "not ready"
        body = {"status": status, "role": self.role, "failing": failing, "checks": checks}
        return web.json_response(body, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self.refresh_outbox()
        self.metrics.leader.set(1 if self.role == "leader" else 0)
        response = web.Response(body=self.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
