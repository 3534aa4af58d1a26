"""The conversation engine: one ``Incoming`` in, a list of ``Reply`` out, state kept in storage."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime

from domain.clock import Clock
from domain.identity import UserRef
from domain.locks import KeyedLocks
from domain.messages import Button, Handled, Incoming, Kind, Reply, said
from domain.metrics import NO_METRICS, Metrics
from domain.payloads import build, parse
from domain.texts import Texts
from handlers.context import Context
from handlers.registry import Feature, Registry
from storage.base import Storage, StoreSession
from storage.errors import StorageBusy

logger = logging.getLogger(__name__)

MAX_TEXT = 4000  # longer texts are refused with a clear answer (Telegram caps at 4096 anyway)
# What "/name" must look like to be answered as a command the bot does not know ("/foo",
# "/help2", "/старт"); "/", "/ 5" or "/123" go on as ordinary text.
_COMMAND = re.compile(r"[^\W\d_]\w*")
MAX_COMMAND = 32  # an unknown command is quoted back at most this long

Preparer = Callable[[Incoming, str], Awaitable[dict[str, object]]]
# Writes the replies to an update in the update's own transaction:
# (session, the update, its replies, the resident's id, now) -> the stored copy's id.
KeepReplies = Callable[[StoreSession, Incoming, list[Reply], int, datetime], Awaitable[int | None]]


class Outcome:
    """How an update ended, as counted (``Metrics.update_handled``)."""

    OK = "ok"
    DUPLICATE = "duplicate"  # its update key was seen before: nothing done
    BUSY = "busy"  # the database stayed locked: nothing committed, the platform repeats it
    ERROR = "error"  # a bug or an unexpected failure: the resident got the error reply


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    # A lone surrogate (JSON "\ud83d" from a broken client) cannot be stored as UTF-8 by SQLite.
    return text.encode("utf-8", "replace").decode("utf-8")


def without_lone_surrogates(incoming: Incoming) -> Incoming:
    """The same message with any unpaired surrogate replaced by "?"."""
    text, caption = incoming.text, incoming.photo.caption if incoming.photo else None
    if _clean(text) == text and _clean(caption) == caption:
        return incoming
    photo = replace(incoming.photo, caption=_clean(caption)) if incoming.photo else None
    return replace(incoming, text=_clean(text), photo=photo)


class Conversation:
    """Runs every incoming message through the registered features.

    Per message: one transaction checks the update key, loads the resident and their state, runs
    the step, saves the state and remembers the key. Replies are returned only after the commit
    (invariant 1); a redelivered update finds its key and gets no second answer (invariant 3).
    Messages of one person are handled one at a time, in arrival order: in this process by a
    per-person lock, across instances on one database by the resident's lock in the
    transaction (``StoreSession.lock_resident``).
    """

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        texts: Texts,
        features: Iterable[Feature],
        preparers: Iterable[Preparer] = (),
        keep_replies: KeepReplies | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.storage = storage
        self.metrics = metrics
        self._keep_replies = keep_replies
        self.clock = clock
        self.texts = texts
        self.registry = Registry()
        for feature in features:
            feature.register(self.registry)
        self._preparers = list(preparers)
        self._locks: KeyedLocks[UserRef] = KeyedLocks()

    async def takes_photo(self, user: UserRef) -> bool:
        """Whether a photo from ``user`` would be kept now: they are in a step that keeps
        photos (the request form, the relay). A channel whose pictures expire downloads one
        only then (``bot.viber.media``): a picture sent outside is answered and not stored.
        A read of the state only; a storage error says no (the URL is kept, nothing lost)."""
        try:
            async with self.storage.transaction() as session:
                resident = await session.residents.get(user)
                if resident is None:
                    return False
                state = await session.conversations.load(resident.id)
        except Exception:
            logger.warning("state of %s not read; the photo is not downloaded", user)
            return False
        return self.registry.takes_photo(state.step)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """Handle one message; never raises for bad input, storage trouble or a feature's bug."""
        return (await self._handle(incoming, keep=False)).replies

    async def process(self, incoming: Incoming) -> Handled:
        """Handle one message and commit its replies with it (``keep_replies``), so that an
        update acknowledged to the platform after this returns is never left unanswered: a
        crash before the replies are sent leaves them to the delivery worker's recovery."""
        return await self._handle(incoming, keep=self._keep_replies is not None)

    async def _handle(self, incoming: Incoming, *, keep: bool) -> Handled:
        # Latency as the platform sees it: waiting behind the resident's earlier messages too.
        started = time.perf_counter()
        incoming = without_lone_surrogates(incoming)
        async with self._locks.hold(incoming.user):
            handled, outcome = await self._handle_locked(incoming, keep=keep)
        self.metrics.update_handled(
            incoming.user.channel.value, outcome, time.perf_counter() - started
        )
        return handled

    async def _handle_locked(self, incoming: Incoming, *, keep: bool) -> tuple[Handled, str]:
        language = "uk"
        key = incoming.update_key
        kept_id: int | None = None
        try:
            prepared = await self._prepare(incoming)
            async with self.storage.transaction() as session:
                # The resident's lock first: another instance handling this resident's other
                # message (or this very update, redelivered) waits here until that one has
                # committed, and then reads its key and its state. Within this process
                # ``self._locks`` already keeps the arrival order.
                await session.lock_resident(incoming.user)
                now = self.clock.now()
                # Remembered next, in the same transaction: a failure below rolls it back so a
                # redelivery is processed; a duplicate finds it and changes nothing.
                if key and not await session.updates.remember(key, now=now):
                    logger.info("duplicate update %s ignored", key, extra={"update_key": key})
                    return Handled(), Outcome.DUPLICATE
                resident = await session.residents.touch(incoming.user, now=now)
                language = resident.language
                state = await session.conversations.load(resident.id)
                loaded = (state.step, json.dumps(state.data, sort_keys=True))
                ctx = Context(
                    incoming=incoming,
                    resident=resident,
                    state=state,
                    session=session,
                    now=now,
                    texts=self.texts,
                    prepared=prepared,
                    metrics=self.metrics,
                )
                replies = await self._dispatch(ctx)
                if (ctx.state.step, json.dumps(ctx.state.data, sort_keys=True)) != loaded:
                    # Most messages (consultations) leave the state as it was: no write.
                    await session.conversations.save(resident.id, ctx.state, now=now)
                if keep and replies and self._keep_replies is not None:
                    kept_id = await self._keep_replies(session, incoming, replies, resident.id, now)
            for callback in ctx.after_commit:
                try:
                    await callback()
                except Exception:
                    # Committed already: the replies stand; what the callback owed is its own.
                    logger.exception(
                        "after-commit work of update %s failed", key, extra={"update_key": key}
                    )
            return Handled(replies, kept_id), Outcome.OK
        except StorageBusy:
            logger.warning("storage busy; update %s not processed", key, extra={"update_key": key})
            # Where the platform delivers it again (a webhook answered with an error status),
            # the adapter drops this reply: "busy, please repeat" would make it come twice.
            busy = Handled([Reply(self.texts.get(language, "busy"))], committed=False)
            return busy, Outcome.BUSY
        except Exception:
            logger.exception("failed to handle update %s", key, extra={"update_key": key})
            return Handled([Reply(self.texts.get(language, "error"))]), Outcome.ERROR

    async def _prepare(self, incoming: Incoming) -> dict[str, object]:
        """Expensive, storage-free work (FAQ matching) done before the transaction opens."""
        prepared: dict[str, object] = {}
        if incoming.kind is Kind.TEXT and incoming.text and not incoming.text.startswith("/"):
            for preparer in self._preparers:
                prepared.update(await preparer(incoming, incoming.text))
        return prepared

    async def _dispatch(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        registry = self.registry
        if said(incoming) is not None:
            # Before buttons, commands, length limits and steps: a person in danger is answered
            # first wherever they are (a request form, the relay, a follow-up).
            for interceptor in registry.interceptors:
                intercepted = await interceptor(ctx)
                if intercepted is not None:
                    return intercepted
        if incoming.kind is Kind.BUTTON:
            payload = parse(incoming.payload)
            handler = registry.actions.get(payload.action) if payload else None
            if payload is None or handler is None:
                logger.info("stale or forged payload from %s", incoming.user.channel)
                return await self._stale(ctx)
            return await handler(ctx, payload)
        if incoming.kind is Kind.TEXT:
            text = (incoming.text or "").strip()
            if len(text) > MAX_TEXT:
                return [Reply(ctx.t("text_too_long", length=len(text), limit=MAX_TEXT))]
            if text.startswith("/"):
                name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if text[1:] else ""
                command = registry.commands.get(name)
                if command is not None:
                    return await command(ctx)
                if _COMMAND.match(name):
                    # "/foo" is a command the bot does not have, not a question: never matched
                    # against the knowledge base, and the step the resident is in is kept.
                    return self._unknown_command(ctx, name)
        step = registry.step_handler(ctx.state.step) if ctx.state.step != "idle" else None
        if step is not None:
            replies = await step(ctx)
            if replies is not None:
                return replies
        idle = registry.idle.get(incoming.kind)
        if idle is not None:
            return await idle(ctx)
        return await self._unsupported(ctx)

    def _unknown_command(self, ctx: Context, name: str) -> list[Reply]:
        known = ", ".join(f"/{command}" for command in self.registry.commands)
        text = ctx.t("unknown_command", command=f"/{name[:MAX_COMMAND]}", commands=known)
        menu = self.registry.actions.get("menu")
        buttons = ((Button(ctx.t("btn_menu"), build("menu")),),) if menu is not None else ()
        return [Reply(text, buttons=buttons)]

    async def _stale(self, ctx: Context) -> list[Reply]:
        fallback = self.registry.commands.get("menu")
        replies = [Reply(ctx.t("stale_button"))]
        if fallback is not None:
            # Showing the menu changes nothing: the state the resident is in is kept.
            step, data = ctx.state.step, dict(ctx.state.data)
            menu = await fallback(ctx)
            ctx.state.step, ctx.state.data = step, data
            replies.extend(menu)
        return replies

    async def _unsupported(self, ctx: Context) -> list[Reply]:
        what = {
            Kind.STICKER: "media_sticker",
            Kind.VOICE: "media_voice",
            Kind.VIDEO: "media_video",
            Kind.DOCUMENT: "media_document",
            Kind.PHOTO: "media_photo",
            Kind.LOCATION: "media_location",
            Kind.CONTACT: "media_contact",
        }.get(ctx.incoming.kind, "media_other")
        if ctx.incoming.kind is Kind.TEXT:
            return [Reply(ctx.t("not_understood"))]
        return [Reply(ctx.t("unsupported_media", what=ctx.t(what)))]
