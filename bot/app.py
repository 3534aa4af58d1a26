"""The run modes: the messengers (Telegram polling or webhook, Viber webhook), the console,
``web`` (webhooks only) and the worker, with their start-up and graceful shutdown, and ``main``
(the command line).

Several instances may share one database (PostgreSQL) behind one webhook URL: every instance
answers the updates it receives; one of them at a time, elected by an advisory lock with
fail-over (``notifications.leader``), delivers the outbox and runs the scheduled jobs.
``python -m bot web`` never takes part: webhooks and their immediate replies only.

Every part is built by the composition root, ``bot.compose``; this module starts, connects and
stops them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from pydantic import ValidationError
from pythonjsonlogger.json import JsonFormatter

from bot.admin import run_admin
from bot.api_keys import run_api_key
from bot.compose import Core, build_api, build_core, build_ops, create_notifier, stats_labels
from bot.console import CONSOLE_USER, ConsoleChannel, run_console
from bot.console_staff import STAFF_CHAT, StaffConsole
from bot.notifier import Notifier
from bot.settings import Settings
from bot.viber import ViberChannel, ViberClient, setup_viber
from bot.viber.media import PhotoKeeper
from bot.viber.webhook import Deliver, KeepPhoto
from domain.channel import Channel, DeliveryError
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind, Reply
from faq.errors import ContentError
from notifications.replies import ReplySender
from services.routing import RoutingError
from storage.errors import ConfigurationError, DatabaseUnreachable, MigrationError
from storage.media import default_media_dir

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


async def start_notifier(core: Core, channels: dict[ChannelName, Channel]) -> Notifier:
    """The outbox worker and the scheduled jobs (follow-ups, deadlines, digest), started after
    the recovery of what a killed process left in flight."""
    notifier = create_notifier(core, channels)
    await notifier.start()
    return notifier


async def run_console_mode(settings: Settings, *, staff: bool = False) -> None:
    """The console chat; with ``staff`` (``console --staff``) the staff chat in the same
    terminal: cards and relay messages marked ``[staff]``, the operator typing ``staff ...``."""
    core = await build_core(settings, console_staff=staff)
    ops = build_ops(core)
    api = build_api(core)
    notifier: Notifier | None = None
    try:
        await ops.start(settings.ops_host, settings.ops_port)
        console = ConsoleChannel(updated=core.texts.get("uk", "req_card_updated"))
        notifier = await start_notifier(core, {ChannelName.CONSOLE: console})
        ops.notifier = notifier
        api.routes.wake = notifier.worker.notify
        await api.start(settings.api_host, settings.api_port)
        staff_console = (
            console_staff(core, console, wake=notifier.worker.notify)
            if core.requests.staff_chat == STAFF_CHAT
            else None
        )
        if staff and staff_console is None:
            logger.warning("TELEGRAM_TOKEN is set: staff cards go to Telegram, not the console")
        await run_console(core.conversation.handle, console, staff=staff_console)
    finally:
        ops.begin_shutdown()
        await api.stop()
        if notifier is not None:
            await notifier.close()
        await ops.stop()
        await core.close()


def console_staff(
    core: Core, console: ConsoleChannel, *, wake: Callable[[], None] | None = None
) -> StaffConsole:
    """The operator's side of the console over the core's services."""
    return StaffConsole(
        channel=console,
        storage=core.storage,
        requests=core.requests,
        relay=core.relay.service,
        labels=stats_labels(core.texts, core.requests),
        files=default_media_dir(core.settings.database_url).parent / "staff",
        resident=CONSOLE_USER,
        wake=wake,
    )


async def run_worker_mode(settings: Settings) -> None:
    """``python -m bot worker``: only deliver the outbox and tick the jobs (while this instance
    is the elected leader; a follower waits to take over), until SIGTERM or SIGINT (a second
    one exits at once)."""
    core = await build_core(settings)
    ops = build_ops(core)
    api = build_api(core)
    notifier: Notifier | None = None
    stop = asyncio.Event()
    install_signal_handlers(stop)
    try:
        await ops.start(settings.ops_host, settings.ops_port)
        notifier = await start_notifier(core, {})
        ops.notifier = notifier
        # The Open311 API may run here too (its writes go to the outbox this worker delivers).
        api.routes.wake = notifier.worker.notify
        await api.start(settings.api_host, settings.api_port)
        logger.info("delivery worker started")
        logger.info("this instance is the %s of the delivery and the scheduled jobs", notifier.role)
        # Until a signal, or until the election (or, without one, the worker) ends by itself.
        running = notifier.election.task if notifier.election is not None else notifier.task
        assert running is not None
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, running], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        ops.begin_shutdown()
        await api.stop()
        if notifier is not None:
            await notifier.close()
        await ops.stop()
        await core.close()


def install_signal_handlers(stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT set ``stop`` (a graceful shutdown); a second one exits at once."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.warning("second signal: exiting now")
            os._exit(128 + signum)
        logger.info("signal %s: shutting down gracefully", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)


async def run_messengers(
    settings: Settings, *, stop: asyncio.Event | None = None, deliver: bool = True
) -> None:
    """Run Telegram (polling or webhook) and Viber (webhook) until ``stop`` is set or a signal.

    ``deliver``: take part in the election of the deployment's delivery worker and scheduler
    (the default mode); False for ``python -m bot web``: webhooks and the replies to their
    updates only, no outbox delivery, no scheduled jobs, and never polling (so never
    ``deleteWebhook``: the webhook is shared by every instance).

    Start-up order: the election's first round (a single instance leads at once; its worker
    recovers what a dead sender left, by expired leases) before any update is taken. Shutdown
    order: stop taking updates (the listener closes, polling stops), finish the updates in
    flight and send their replies, let the worker finish its sends, close the database (each
    step bounded by SHUTDOWN_GRACE).
    """
    from bot.telegram.channel import TelegramChannel  # noqa: PLC0415 - only when configured
    from bot.telegram.relay import sweep_forever  # noqa: PLC0415
    from bot.telegram.runtime import (  # noqa: PLC0415
        create_bot,
        create_dispatcher,
        get_routers,
        run_polling,
        setup_webhook,
    )
    from bot.telegram.staff import build_staff  # noqa: PLC0415
    from bot.telegram.stats import StaffStats  # noqa: PLC0415
    from bot.telegram.stats import create_router as stats_router  # noqa: PLC0415

    if not deliver and not settings.webhook_base_url:
        raise ConfigurationError(
            "`python -m bot web` serves webhooks only: set WEBHOOK_BASE_URL (polling, which"
            " would delete the shared webhook, is never used in this mode)"
        )
    stop = stop or asyncio.Event()
    install_signal_handlers(stop)
    grace = settings.shutdown_grace

    core = await build_core(settings)
    ops = build_ops(core)
    api = build_api(core)
    runner: web.AppRunner | None = None
    tasks: list[asyncio.Task[None]] = []
    start_polling: Callable[[], Coroutine[Any, Any, None]] | None = None
    bot = None
    viber_client: ViberClient | None = None
    channels: dict[ChannelName, Channel] = {}
    replies = ReplySender(core.storage, channels, core.clock, metrics=core.metrics)
    notifier: Notifier | None = None
    staff_stats = StaffStats(
        storage=core.storage,
        clock=core.clock,
        texts=core.texts,
        staff_chat_id=settings.staff_chat_id,
        operator_ids=settings.operator_ids,
        labels=stats_labels(core.texts, core.requests),
    )
    try:
        # First: /healthz answers while the rest starts (/readyz waits for the worker).
        await ops.start(settings.ops_host, settings.ops_port)
        app = web.Application()
        if settings.telegram_token is not None:
            token = settings.telegram_token.get_secret_value()
            bot = create_bot(token, settings.telegram_api_url)
            channel = TelegramChannel(bot, media=core.media)
            channels[ChannelName.TELEGRAM] = channel
            replies.add_channel(ChannelName.TELEGRAM, channel)
            # Staff chat and executors' chats: cards, /find, /request, the operator relay.
            staff_routers, staff_data = build_staff(
                bot,
                staff_chat_id=settings.staff_chat_id,
                operator_ids=settings.operator_ids,
                database=core.storage,
                clock=core.clock,
                requests=core.requests,
                relay_forwarder=core.relay,
            )
            if settings.staff_chat_id is not None:
                core.background.append(asyncio.create_task(sweep_forever(core.relay)))
            dispatcher = create_dispatcher(
                get_routers(*staff_routers, stats_router()),
                conversation=core.conversation,
                telegram_channel=channel,
                reply_sender=replies,
                # A webhook update refused with 500 comes again; a polled one does not.
                updates_redelivered=bool(settings.webhook_base_url),
                settings=settings,
                staff_stats=staff_stats,
                **staff_data,
            )
            me = await bot.get_me()
            logger.info("telegram bot @%s started", me.username)
            if settings.webhook_base_url:
                await setup_webhook(
                    app, bot, dispatcher, base_url=settings.webhook_base_url, token=token
                )
            else:
                start_polling = partial(run_polling, bot, dispatcher)
        if settings.viber_token is not None and not settings.webhook_base_url:
            logger.error("VIBER_TOKEN is set but Viber needs WEBHOOK_BASE_URL: Viber not started")
        elif settings.viber_token is not None:
            viber_client = ViberClient(
                settings.viber_token.get_secret_value(),
                base_url=settings.viber_api_url,
                sender_name=settings.viber_bot_name,
            )
            viber_channel = ViberChannel(viber_client, settings.viber_bot_name)
            channels[ChannelName.VIBER] = viber_channel
            replies.add_channel(ChannelName.VIBER, viber_channel)
            # A picture's URL expires: it is downloaded and kept when it arrives, if the
            # resident is where a photo is kept (the request form, the relay).
            keeper = (
                PhotoKeeper(viber_client, core.media, wanted=core.conversation.takes_photo)
                if core.media is not None
                else None
            )
            wire_viber(
                app,
                core,
                settings,
                viber_channel,
                deliver=replies.send,
                keep_photo=keeper.keep if keeper is not None else None,
            )
        if deliver:
            # Before the first update is taken: the first round of the election.
            notifier = await start_notifier(core, channels)
            ops.notifier = notifier
            staff_stats.wake_worker = notifier.worker.notify
            # The Open311 API (API_PORT): its cards and messages go through the same outbox.
            api.routes.wake = notifier.worker.notify
        else:
            # The elected leader's worker finds what this instance queues by polling.
            ops.delivers = False
            logger.info("web mode: webhooks only; the elected instance delivers the outbox")
        await api.start(settings.api_host, settings.api_port)
        if app.router.routes():
            runner = web.AppRunner(app, access_log_class=RefusedRequestsLog, shutdown_timeout=grace)
            await runner.setup()
            site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
            await site.start()
            logger.info("webhook server listening on port %s", settings.webhook_port)
        if viber_client is not None and settings.webhook_base_url:
            # After the server is up: Viber checks the URL with a signed callback at once.
            try:
                await viber_client.set_webhook(settings.webhook_base_url + VIBER_WEBHOOK_PATH)
            except DeliveryError as error:
                # Telegram may still work; Viber stays unreachable until this is fixed.
                logger.error("Viber refused the webhook: %s", error)
        if start_polling is not None:
            tasks.append(asyncio.create_task(start_polling(), name="telegram-polling"))
        freeze_startup_objects()
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # checked not None just above
        waiter.cancel()
    finally:
        # 0. Not ready any more: a load balancer stops sending while the rest winds down.
        ops.begin_shutdown()
        # 1. No new updates: polling stops (an update being handled is cancelled before its
        #    commit and comes again), the listener closes and the requests in flight finish.
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runner is not None:
            await runner.cleanup()
        await api.stop()
        # 2. The replies of what was taken; 3. the worker's sends in flight.
        await replies.close(grace)
        if notifier is not None:
            await notifier.close()
        if bot is not None:
            await bot.session.close()
        if viber_client is not None:
            await viber_client.close()
        # 4. The ops listener (/healthz answered until here), then the database, cleanly.
        await ops.stop()
        await core.close()
        logger.info("stopped")


VIBER_WEBHOOK_PATH = "/viber"


def wire_viber(
    app: web.Application,
    core: Core,
    settings: Settings,
    channel: ViberChannel,
    *,
    deliver: Deliver | None = None,
    keep_photo: KeepPhoto | None = None,
) -> None:
    """The Viber webhook on the shared server; subscriptions mark residents (un)reachable."""
    token = settings.viber_token.get_secret_value() if settings.viber_token else ""

    async def on_subscription(user: UserRef, subscribed: bool) -> None:
        async with core.storage.transaction() as session:
            resident = await session.residents.touch(user, now=core.clock.now())
            await session.residents.set_blocked(resident.id, not subscribed)
            if not subscribed:
                await session.outbox.cancel_for_chat(user, reason="unsubscribed")

    async def welcome(user: UserRef, _context: str | None) -> list[Reply]:
        return await core.conversation.handle(Incoming(user, Kind.TEXT, text="/start"))

    setup_viber(
        app,
        token=token,
        handle=core.conversation.process,
        channel=channel,
        on_subscription=on_subscription,
        welcome=welcome,
        deliver=deliver,
        keep_photo=keep_photo,
        path=VIBER_WEBHOOK_PATH,
    )


class RefusedRequestsLog(AccessLogger):
    """The webhook server's access log, for refused requests only (status 400 and up).

    Every accepted update would otherwise add a line that says nothing ("POST /telegram 200"
    from the platform's address), 300 a second after a strike; a refused one (bad secret or
    signature, malformed body) is worth seeing.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if response.status >= HTTPStatus.BAD_REQUEST:
            super().log(request, response, time)


def freeze_startup_objects() -> None:
    """Hide what start-up built from the garbage collector for good.

    aiogram's and pydantic's models, the FAQ matcher and the texts live as long as the process;
    left in the collector's view, every full collection walks them all (~190,000 objects,
    measured 140 ms on a 2-core host), a pause every conversation feels at once. After
    ``gc.freeze()`` a full collection looks only at what was made since (the standard remedy,
    see the ``gc.freeze`` documentation).
    """
    gc.collect()
    gc.freeze()


def json_formatter() -> logging.Formatter:
    """``LOG_FORMAT=json``: one JSON object per record (python-json-logger)."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


def configure_logging(level: str, log_format: str = "text") -> None:
    """Logs to standard error: ``text`` lines, or with ``json`` one JSON object per line
    (python-json-logger): ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and
    the fields a call adds with ``extra=`` (``update_key``, ``request``...), ``exc_info`` for a
    traceback."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(json_formatter())
        logging.basicConfig(level=level.upper(), handlers=[handler])
    else:
        logging.basicConfig(
            level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    # aiogram logs every update with its content at INFO in some paths; ids are enough.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG (phones, addresses): never.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    # APScheduler reports every tick of every job at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


MODES = ("console", "web", "worker", "backup", "restore", "api-key", "migrate-data")
USAGE = (
    "usage: python -m bot [console [--staff] | web | worker | backup PATH | restore PATH"
    " | api-key create NAME --scope read|write | api-key list | api-key revoke NAME"
    " | api-key audit | migrate-data --from SQLITE_URL --to POSTGRES_URL [--media-to DIR]]"
)


def settings_errors(error: ValidationError) -> list[str]:
    """One line per wrong setting, named as in the environment (values are not repeated: a
    token's would land in the service manager's log)."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"error: {name}: {message}")
    return lines


def main(argv: Sequence[str]) -> int:
    """Exit codes: 0 after a normal stop, 2 for a wrong command line or setting (one line
    each on stderr, no traceback: a service manager shows it as the reason)."""
    mode = argv[0] if argv else "auto"
    if mode not in {"auto", *MODES}:
        print(f"{USAGE}   (unknown mode {mode!r})", file=sys.stderr)
        return 2
    try:
        settings = Settings()
    except ValidationError as error:
        for line in settings_errors(error):
            print(line, file=sys.stderr)
        print("see .env.example for every setting", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if mode in {"backup", "restore"}:
        return run_admin(mode, argv[1:], settings)
    if mode == "migrate-data":
        # Loads the PostgreSQL driver: only for this mode (a SQLite bot never loads libpq).
        from bot.migrate_data import run_migrate_data  # noqa: PLC0415

        return run_migrate_data(argv[1:], settings)
    if mode == "api-key":
        try:
            return run_api_key(argv[1:], settings)
        except (ConfigurationError, MigrationError) as error:
            print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
            return 2
    staff = mode == "console" and "--staff" in argv[1:]
    if mode == "console" and any(arg != "--staff" for arg in argv[1:]):
        print(f"{USAGE}   (unknown option {argv[1:]!r})", file=sys.stderr)
        return 2
    try:
        return run_mode(mode, settings, staff=staff)
    except (
        ConfigurationError,
        DatabaseUnreachable,
        MigrationError,
        RoutingError,
        ContentError,
    ) as error:
        # A file or database the settings name is wrong or away: one line, not a traceback.
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


def run_mode(mode: str, settings: Settings, *, staff: bool = False) -> int:
    if mode == "worker":
        asyncio.run(run_worker_mode(settings))
        return 0
    if mode == "web":
        if settings.telegram_token is None and settings.viber_token is None:
            print(
                "error: `python -m bot web` needs TELEGRAM_TOKEN or VIBER_TOKEN (see .env.example)",
                file=sys.stderr,
            )
            return 2
        asyncio.run(run_messengers(settings, deliver=False))
        return 0
    configured = settings.telegram_token is not None or settings.viber_token is not None
    if mode == "auto" and not configured and not sys.stdin.isatty():
        # A service started without its secret must not look healthy: the console would read
        # end-of-file at once and exit 0.
        print(
            "error: no TELEGRAM_TOKEN or VIBER_TOKEN is set, and the console chat needs a"
            " terminal: set a token (see .env.example), or run `python -m bot console`",
            file=sys.stderr,
        )
        return 2
    if mode == "console" or not configured:
        if mode == "auto":
            logger.info("no TELEGRAM_TOKEN or VIBER_TOKEN configured: starting the console chat")
        asyncio.run(run_console_mode(settings, staff=staff))
    else:
        asyncio.run(run_messengers(settings))
    return 0
