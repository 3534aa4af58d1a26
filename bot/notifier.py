"""Wires what the bot says first: the outbox worker with its paced channels, and the scheduler.

Built once by the composition root (``bot.app``) for every mode: the messengers, the console,
and ``python -m bot worker`` (delivery and scheduled jobs only, no incoming updates; the crash
test runs it as a separate process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.settings import Settings
from bot.viber.policy import ViberDeliveryPolicy, ViberProactive
from domain.channel import Channel
from domain.clock import Clock
from domain.identity import ChannelName, UserRef
from domain.metrics import NO_METRICS, Metrics
from domain.texts import Texts
from notifications.digest import DigestJob
from notifications.limits import ChatRateLimiter, RateLimits
from notifications.maintenance import BackupJob, BackupPlan, RetentionJob
from notifications.quiet import QuietHours
from notifications.scheduler import NotificationJobs, NotificationScheduler
from notifications.stats import Labels
from notifications.worker import OutboxWorker, RetryPolicy
from services.deadlines import DeadlineWatch
from services.followups import FollowupService, FollowupSettings
from services.requests import RequestService
from storage.base import Storage
from storage.maintenance import DatabaseMaintenance

__all__ = [
    "Notifier",
    "build_backup",
    "build_followups",
    "create_notifier",
    "staff_chat_of",
    "stats_labels",
]

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # how long a graceful stop waits for the sends in flight


def staff_chat_of(settings: Settings) -> UserRef | None:
    if settings.staff_chat_id is None:
        return None
    return UserRef(ChannelName.TELEGRAM, str(settings.staff_chat_id))


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        total_per_second=settings.rate_limit_total_per_second,
        per_chat_per_second=settings.rate_limit_per_chat_per_second,
        per_group_per_minute=settings.rate_limit_per_group_per_minute,
    )


def quiet_hours(settings: Settings) -> QuietHours | None:
    window = settings.quiet
    return QuietHours(window[0], window[1], settings.tz) if window else None


def build_followups(settings: Settings, requests: RequestService) -> FollowupService:
    """The follow-up service for the conversation and the jobs (same clock, texts, staff chat
    as the requests service)."""
    return FollowupService(
        requests,
        requests.texts,
        requests.clock,
        staff_chat=requests.staff_chat,
        settings=FollowupSettings(
            delay=settings.followup_delay,
            reminder_after=settings.followup_reminder_after,
            answer_days=settings.followup_answer_days,
        ),
    )


def build_backup(
    settings: Settings, database: DatabaseMaintenance | None, clock: Clock
) -> BackupJob | None:
    """The daily backup when ``BACKUP_DIR`` is set and the database can be backed up live."""
    if settings.backup_dir is None or database is None:
        return None
    plan = BackupPlan(settings.backup_dir, at=settings.backup_time, keep=settings.backup_keep)
    return BackupJob(database, clock, plan)


def stats_labels(texts: Texts, requests: RequestService | None) -> Labels:
    """Names for executor ids from the routing file."""

    def executor_name(executor_id: str) -> str:
        if requests is None:
            return executor_id
        executor = requests.routing.executors.get(executor_id)
        return executor.name if executor else executor_id

    return Labels(texts, executor_name=executor_name)


@dataclass
class Notifier:
    """The running worker and scheduler; ``close`` stops both gracefully."""

    worker: OutboxWorker
    jobs: NotificationJobs
    scheduler: NotificationScheduler | None
    limiter: ChatRateLimiter
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @property
    def worker_running(self) -> bool:
        """The delivery worker's task is alive (``/readyz``)."""
        return self.task is not None and not self.task.done()

    @property
    def scheduler_running(self) -> bool:
        """The scheduler ticks (``/readyz``); a notifier built without one never does."""
        return self.scheduler is not None and self.scheduler.running

    async def start(self) -> None:
        """Recover what a killed process left in flight, then deliver and tick. Awaited before
        any update is taken: replies committed from then on are SENDING by their sender, and a
        later recovery would send them twice."""
        await self.worker.recover()
        self.task = asyncio.create_task(self.worker.run(recover=False), name="outbox-worker")
        if self.scheduler is not None:
            self.scheduler.start()

    async def close(self) -> None:
        """Stop ticking, let the sends in flight finish (so nothing is left "maybe sent"),
        then close the worker's own Bot session."""
        if self.scheduler is not None:
            await self.scheduler.shutdown()
        self.worker.stop()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), STOP_TIMEOUT)
            except TimeoutError:
                logger.warning("outbox worker did not stop in time; cancelling it")
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task
        for close in self.closers:
            await close()


def create_notifier(
    settings: Settings,
    *,
    storage: Storage,
    clock: Clock,
    texts: Texts,
    requests: RequestService | None,
    channels: Mapping[ChannelName, Channel],
    with_scheduler: bool = True,
    metrics: Metrics = NO_METRICS,
) -> Notifier:
    """The worker over ``channels``, plus a paced Telegram channel of its own when a token is
    configured (the conversation's channel waits out 429s inline; the worker's never does)."""
    limiter = ChatRateLimiter(rate_limits(settings))
    worker_channels: dict[ChannelName, Channel] = dict(channels)
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.telegram_token is not None:
        from bot.telegram.channel import TelegramChannel  # noqa: PLC0415 - only when configured
        from bot.telegram.pacing import create_paced_bot  # noqa: PLC0415

        paced = create_paced_bot(
            settings.telegram_token.get_secret_value(), settings.telegram_api_url, limiter
        )
        worker_channels[ChannelName.TELEGRAM] = TelegramChannel(paced, wait_retry_after=False)
        closers.append(paced.session.close)
    worker = OutboxWorker(
        storage,
        worker_channels,
        clock,
        limiter=limiter,
        quiet_hours=quiet_hours(settings),
        retry=RetryPolicy(max_attempts=settings.delivery_max_attempts),
        concurrency=settings.delivery_concurrency,
        policies={
            ChannelName.VIBER: ViberDeliveryPolicy(ViberProactive(settings.viber_proactive_policy))
        },
        metrics=metrics,
    )
    staff_chat = staff_chat_of(settings)
    database = storage if isinstance(storage, DatabaseMaintenance) else None
    jobs = NotificationJobs(
        storage,
        followups=build_followups(settings, requests) if requests is not None else None,
        deadlines=DeadlineWatch(
            requests.routing, texts, clock, staff_chat=staff_chat, metrics=metrics
        )
        if requests is not None
        else None,
        digest=DigestJob(
            storage,
            texts,
            clock,
            staff_chat=staff_chat,
            digest_time=settings.digest_time,
            labels=stats_labels(texts, requests),
        ),
        clock=clock,
        # Upkeep at BACKUP_TIME: retention (RETENTION_DAYS), then the backup into BACKUP_DIR.
        retention=RetentionJob(
            storage, clock, days=settings.retention_days, at=settings.backup_time
        ),
        backup=build_backup(settings, database, clock),
        database=database,
    )
    scheduler = NotificationScheduler(jobs) if with_scheduler else None
    return Notifier(worker, jobs, scheduler, limiter, closers)


async def run_worker_only(
    settings: Settings,
    *,
    storage: Storage,
    clock: Clock,
    texts: Texts,
    requests: RequestService | None,
    channels: Mapping[ChannelName, Channel] | None = None,
    metrics: Metrics = NO_METRICS,
    on_started: Callable[[Notifier], None] | None = None,
) -> None:
    """``python -m bot worker``: deliver the outbox and tick the jobs until SIGTERM/SIGINT.

    ``on_started`` is given the running notifier (the ops listener's readiness checks it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    notifier = create_notifier(
        settings,
        storage=storage,
        clock=clock,
        texts=texts,
        requests=requests,
        channels=channels or {},
        metrics=metrics,
    )
    await notifier.start()
    if on_started is not None:
        on_started(notifier)
    logger.info("delivery worker started")
    try:
        assert notifier.task is not None
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, notifier.task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        await notifier.close()
