"""The composition root: every part of the bot is built here, once, from the settings.

``build_core`` builds what every mode shares (the storage behind its interface, the texts, the
clock, the metrics, the request, follow-up and relay services, the conversation with its
features); ``create_notifier`` builds the delivery worker and the scheduled jobs over the same
parts; ``build_ops`` the ops listener. The run modes (``bot.app``) and the channel adapters
(``bot.telegram``, ``bot.viber``, ``bot.console``) are given these parts and build none of their
own. The only code that names a concrete storage or a messenger's policy is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.console_staff import STAFF_CHAT as CONSOLE_STAFF_CHAT
from bot.notifier import Notifier
from bot.open311 import Open311Server
from bot.open311.routes import Open311Routes
from bot.ops import OpsServer, PrometheusMetrics
from bot.settings import Settings
from bot.viber.policy import ViberDeliveryPolicy, ViberProactive
from domain.channel import Channel
from domain.clock import Clock, SystemClock
from domain.identity import ChannelName, UserRef
from domain.media import MediaStore
from domain.metrics import NO_METRICS, Metrics
from domain.texts import Texts
from faq.crisis import load_crisis
from faq.knowledge import load_knowledge_base
from faq.matcher import Matcher
from faq.offtopic import load_offtopic
from faq.shelter_search import CityArea
from faq.shelters import SAMPLE_SHELTERS_CSV, load_shelters
from handlers.consult import ConsultFeature, ShelterSource
from handlers.conversation import Conversation, Preparer
from handlers.crisis import CrisisFeature
from handlers.followup import FollowupFeature
from handlers.menu import MenuFeature
from handlers.privacy import ErasureOnClosure, PrivacyFeature
from handlers.registry import Feature
from handlers.relay import RelayFeature
from handlers.requests import RequestsFeature
from notifications.digest import DigestJob
from notifications.limits import ChatRateLimiter, RateLimits
from notifications.maintenance import BackupJob, BackupPlan, RetentionJob
from notifications.quiet import QuietHours
from notifications.replies import keep_replies
from notifications.scheduler import NotificationJobs, NotificationScheduler
from notifications.stats import Labels
from notifications.worker import OutboxWorker, RetryPolicy
from services.deadlines import DeadlineWatch
from services.followups import FollowupService, FollowupSettings
from services.open311 import Open311Service
from services.open311_keys import ApiKeys
from services.open311_limits import KeyRateLimiter
from services.relay import RelayService
from services.relay_forwarder import RelayForwarder
from services.requests import RequestService
from services.routing import load_routing
from storage.base import Resident, Storage
from storage.maintenance import DatabaseHealth, DatabaseMaintenance
from storage.media import FileMediaStore, default_media_dir
from storage.open import maintenance_of, open_storage
from storage.outbox import OutboxLease
from storage.relay import RelaySession

logger = logging.getLogger(__name__)

__all__ = [
    "CONSOLE_STAFF_CHAT",
    "Core",
    "build_api",
    "build_backup",
    "build_consult",
    "build_core",
    "build_features",
    "build_followups",
    "build_media",
    "build_ops",
    "build_request_service",
    "create_notifier",
    "staff_chat_of",
    "stats_labels",
]


@dataclass
class Core:
    """The channel-independent parts, built once and shared by every channel and mode."""

    settings: Settings
    clock: Clock
    storage: Storage
    texts: Texts
    conversation: Conversation
    requests: RequestService
    followups: FollowupService
    relay: RelayForwarder
    # The process's metrics (its own Prometheus registry), shared by every part that counts.
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)
    # What the readiness probe asks the database, and the backups and checkpoints it offers
    # (the concrete database behind ``storage``: one object, seen through three interfaces).
    health: DatabaseHealth | None = None
    maintenance: DatabaseMaintenance | None = None
    # Photos the bot keeps itself (a Viber picture, downloaded when it arrives): MEDIA_DIR.
    media: MediaStore | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.storage.close()


# -- the conversation ----------------------------------------------------------------------


def staff_chat_of(settings: Settings, *, console: bool = False) -> UserRef | None:
    """The staff chat: a Telegram group (``STAFF_CHAT_ID``), or None (no cards, no relay);
    with ``console`` (``python -m bot console --staff``) and no Telegram token, the console's
    staff pane."""
    if console and settings.telegram_token is None:
        return CONSOLE_STAFF_CHAT
    if settings.staff_chat_id is None:
        return None
    return UserRef(ChannelName.TELEGRAM, str(settings.staff_chat_id))


class FixedDesk:
    """A relay desk with one place for every conversation (the console's staff pane)."""

    def __init__(self, chat: UserRef) -> None:
        self.chat = chat

    async def destination(self, relay: RelaySession, resident: Resident) -> UserRef | None:
        return self.chat


def build_consult(settings: Settings) -> ConsultFeature:
    """The knowledge base, its matcher and the shelter list (the city's file or the sample)."""
    knowledge = load_knowledge_base()
    matcher = Matcher.from_knowledge_base(knowledge, offtopic=load_offtopic())
    csv_path = settings.shelters_csv or SAMPLE_SHELTERS_CSV
    area = CityArea(*settings.city_center, radius_km=settings.city_radius_km)
    shelters = ShelterSource(
        load_shelters(csv_path), is_sample=settings.shelters_csv is None, area=area
    )
    return ConsultFeature(knowledge, matcher, shelters)


def build_request_service(
    settings: Settings,
    *,
    texts: Texts,
    clock: Clock,
    metrics: Metrics = NO_METRICS,
    console_staff: bool = False,
) -> RequestService:
    """Requests with the routing file (ROUTING_FILE or the shipped one), validated now so a
    broken file stops the start with a message naming the entry."""
    routing = load_routing(settings.routing_file)
    staff_chat = staff_chat_of(settings, console=console_staff)
    return RequestService(routing, texts, clock, staff_chat, metrics=metrics)


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


def build_features(
    settings: Settings,
    *,
    requests: RequestService,
    relay: RelayFeature | None = None,
    followups: FollowupService | None = None,
) -> tuple[list[Feature], list[Preparer]]:
    """Every conversation feature in registration order; the menu goes last (it fills the
    placeholders of whatever is not built)."""
    features: list[Feature] = []
    preparers: list[Preparer] = []
    # First of all: a person in danger gets the emergency numbers before anything else.
    crisis_content, detector = load_crisis()
    features.append(
        CrisisFeature(crisis_content, detector, alert=relay.alert if relay is not None else None)
    )
    consult = build_consult(settings)
    features.append(consult)
    preparers.append(consult.prepare)
    features.append(RequestsFeature(requests))
    features.append(FollowupFeature(followups or build_followups(settings, requests)))
    if relay is not None:
        features.append(relay)
    # /forget; open requests kept through an erasure are erased when they close.
    features.append(PrivacyFeature())
    requests.add_observer(ErasureOnClosure())
    features.append(MenuFeature())
    return features, preparers


def build_media(settings: Settings, *, base: Path | None = None) -> FileMediaStore:
    """The kept photos: ``MEDIA_DIR``, or ``media/`` beside the SQLite file; created here (a
    directory that cannot be only costs the keeping: photos stay platform references)."""
    directory = settings.media_dir
    if directory is None:
        directory = default_media_dir(settings.database_url, base=base)
    elif not directory.is_absolute() and base is not None:
        directory = base / directory
    store = FileMediaStore(directory, max_bytes=settings.media_max_bytes)
    store.ensure()
    return store


async def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    base: Path | None = None,
    console_staff: bool = False,
) -> Core:
    """``console_staff`` (``python -m bot console --staff``): with no Telegram token, cards,
    relay messages and escalations go to the console's staff pane (``CONSOLE_STAFF_CHAT``)."""
    clock = clock or SystemClock(settings.tz)
    texts = Texts.load()
    metrics = PrometheusMetrics()
    # Before the database opens: a broken routing file stops the start and leaves nothing open.
    requests = build_request_service(
        settings, texts=texts, clock=clock, metrics=metrics, console_staff=console_staff
    )
    console_desk = requests.staff_chat == CONSOLE_STAFF_CHAT
    followups = build_followups(settings, requests)
    storage = await open_storage(
        settings.database_url, base=base, pool_size=settings.database_pool_size
    )
    # What this process claims in the outbox is leased to it for OUTBOX_LEASE_SECONDS.
    storage.outbox_lease = OutboxLease(storage.outbox_lease.owner, settings.outbox_lease_seconds)
    # The operator relay: a conversation needs a staff chat to go to (Telegram's desk is given
    # to the forwarder when the bot starts; until then messages wait as pending).
    relay = RelayForwarder(
        storage=storage,
        clock=clock,
        service=RelayService(texts),
        desk=FixedDesk(CONSOLE_STAFF_CHAT) if console_desk else None,
    )
    relay_feature = RelayFeature(
        relay.service,
        available=console_desk
        or (settings.telegram_token is not None and settings.staff_chat_id is not None),
        forward=relay.forward_quietly,
    )
    features, preparers = build_features(
        settings, requests=requests, relay=relay_feature, followups=followups
    )
    conversation = Conversation(
        storage=storage,
        clock=clock,
        texts=texts,
        features=features,
        preparers=preparers,
        keep_replies=keep_replies,
        metrics=metrics,
    )
    return Core(
        settings,
        clock,
        storage,
        texts,
        conversation,
        requests=requests,
        followups=followups,
        relay=relay,
        metrics=metrics,
        health=storage,
        maintenance=maintenance_of(storage),
        media=build_media(settings, base=base),
    )


def build_ops(core: Core) -> OpsServer:
    """The ops listener over the core's metrics and database (started by each mode)."""
    if core.health is None:
        raise ValueError("the ops listener needs a database it can probe")
    return OpsServer(core.metrics, storage=core.storage, database=core.health, clock=core.clock)


def build_api(core: Core) -> Open311Server:
    """The Open311 API over the core's request service, database and kept photos (started by
    each mode on ``API_PORT``; nothing when it is empty)."""
    settings = core.settings
    routes = Open311Routes(
        Open311Service(core.requests),
        ApiKeys(core.clock),
        core.storage,
        KeyRateLimiter(settings.api_rate_limit),
        media=core.media,
        public_url=settings.api_public_url,
    )
    return Open311Server(routes, max_body=settings.api_max_body)


# -- what the bot says first ---------------------------------------------------------------


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        total_per_second=settings.rate_limit_total_per_second,
        per_chat_per_second=settings.rate_limit_per_chat_per_second,
        per_group_per_minute=settings.rate_limit_per_group_per_minute,
    )


def quiet_hours(settings: Settings) -> QuietHours | None:
    window = settings.quiet
    return QuietHours(window[0], window[1], settings.tz) if window else None


def build_backup(
    settings: Settings, database: DatabaseMaintenance | None, clock: Clock
) -> BackupJob | None:
    """The daily backup when ``BACKUP_DIR`` is set and the database can be backed up live."""
    if settings.backup_dir is None:
        return None
    if database is None:
        logger.warning(
            "BACKUP_DIR is set, but this database is not a SQLite file: the bot makes no"
            " backups of it; back PostgreSQL up with pg_dump (README, PostgreSQL)"
        )
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


def create_notifier(
    core: Core,
    channels: Mapping[ChannelName, Channel],
    *,
    with_scheduler: bool = True,
) -> Notifier:
    """The worker over ``channels``, plus a paced Telegram channel of its own when a token is
    configured (the conversation's channel waits out 429s inline; the worker's never does),
    each channel's delivery policy, and the scheduled jobs."""
    settings, storage, clock, texts = core.settings, core.storage, core.clock, core.texts
    limiter = ChatRateLimiter(rate_limits(settings))
    worker_channels: dict[ChannelName, Channel] = dict(channels)
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.telegram_token is not None:
        from bot.telegram.channel import TelegramChannel  # noqa: PLC0415 - only when configured
        from bot.telegram.pacing import create_paced_bot  # noqa: PLC0415

        paced = create_paced_bot(
            settings.telegram_token.get_secret_value(), settings.telegram_api_url, limiter
        )
        worker_channels[ChannelName.TELEGRAM] = TelegramChannel(
            paced, wait_retry_after=False, media=core.media
        )
        closers.append(paced.session.close)
    if settings.viber_token is not None and ChannelName.VIBER not in worker_channels:
        # ``python -m bot worker``: no webhook here, but Viber's messages are delivered too.
        from bot.viber import ViberChannel, ViberClient  # noqa: PLC0415 - only when configured

        client = ViberClient(
            settings.viber_token.get_secret_value(),
            base_url=settings.viber_api_url,
            sender_name=settings.viber_bot_name,
        )
        worker_channels[ChannelName.VIBER] = ViberChannel(client, settings.viber_bot_name)
        closers.append(client.close)
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
        metrics=core.metrics,
    )
    console = core.requests.staff_chat == CONSOLE_STAFF_CHAT  # ``console --staff``
    staff_chat = staff_chat_of(settings, console=console)
    jobs = NotificationJobs(
        storage,
        followups=core.followups,
        deadlines=DeadlineWatch(
            core.requests.routing,
            texts,
            clock,
            staff_chat=staff_chat,
            metrics=core.metrics,
            requests=core.requests,
        ),
        digest=DigestJob(
            storage,
            texts,
            clock,
            staff_chat=staff_chat,
            digest_time=settings.digest_time,
            labels=stats_labels(texts, core.requests),
        ),
        clock=clock,
        # Upkeep at BACKUP_TIME: retention (RETENTION_DAYS), then the backup into BACKUP_DIR.
        retention=RetentionJob(
            storage,
            clock,
            days=settings.retention_days,
            at=settings.backup_time,
            # Kept photos nothing refers to any more are deleted with the rest.
            media=core.media if isinstance(core.media, FileMediaStore) else None,
        ),
        backup=build_backup(settings, core.maintenance, clock),
        database=core.maintenance,
    )
    scheduler = NotificationScheduler(jobs) if with_scheduler else None
    notifier = Notifier(worker, jobs, scheduler, limiter, closers)
    # One active delivery worker and scheduler per deployment, elected (notifications.leader).
    notifier.leader_lock = storage.leader_lock("delivery")
    notifier.leader_timeout = settings.leader_timeout
    return notifier
