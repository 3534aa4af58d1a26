"""The staff chat in the console: ``python -m bot console --staff``.

With no Telegram token, the composition root sends cards, relay messages and escalations to
``STAFF_CHAT`` (``UserRef(console, "staff")``); the console channel prints them marked
``[staff]`` with their buttons numbered. A line starting with ``staff`` is the operator's:
``staff N`` presses button N of the latest staff message with buttons, ``staff /find``,
``staff /stats``, ``staff /export``, and ``staff <text>`` answers a note prompt or the open
operator conversation. Everything goes through the services (``RequestService``,
``RelayService``, the statistics), as the Telegram staff side does.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from domain.identity import ChannelName, UserRef
from domain.messages import Button, Reply
from domain.payloads import build, parse
from domain.requests import (
    Actor,
    InvalidTransition,
    MissingNote,
    Request,
    RequestError,
    RequestNotFound,
    Status,
    StatusChange,
)
from notifications.digest import build_report, load_report
from notifications.stats import Labels, PeriodError, export_csv, parse_period
from services.cards import ASSIGN_ACTION, STAFF_STATUS_ACTION, status_label
from services.relay import RelayError, RelayService
from services.relay_texts import ACTION_CLOSE, ACTION_TO_REQUEST
from services.requests import RequestService
from storage.base import Storage

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bot.console import ConsoleChannel

__all__ = ["STAFF_CHAT", "STAFF_HINT", "StaffConsole"]

logger = logging.getLogger(__name__)

STAFF_CHAT = UserRef(ChannelName.CONSOLE, "staff")
STAFF_LANGUAGE = "uk"
OPERATOR = Actor.operator("console", "консоль")
FIND_LIMIT = 5

STAFF_HINT = (
    "Staff pane: lines marked [staff] are the staff chat. Act as the operator with:\n"
    "  staff N             press button N of the latest [staff] card with buttons\n"
    "  staff /find NUMBER  show a card        staff /stats [today|7d]   figures + chart file\n"
    "  staff /export [7d]  the CSV file       staff TEXT    the note asked for, or an answer\n"
    "                                                       to the resident's conversation\n"
)


class StaffConsole:
    """The operator's side of the console, over the same services as the Telegram staff chat."""

    def __init__(
        self,
        *,
        channel: ConsoleChannel,
        storage: Storage,
        requests: RequestService,
        relay: RelayService,
        labels: Labels,
        files: Path,
        resident: UserRef,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.channel = channel
        self.storage = storage
        self.requests = requests
        self.relay = relay
        self.labels = labels
        self.files = files
        self.resident = resident
        self.wake = wake
        # A status that needs a text (reject, ask, reopen): (request id, status).
        self.awaiting: tuple[int, Status] | None = None

    def t(self, key: str, /, **values: object) -> str:
        return self.requests.texts.get(STAFF_LANGUAGE, key, **values)

    async def say(self, replies: Sequence[Reply]) -> None:
        await self.channel.send(STAFF_CHAT, replies)

    async def note(self, text: str) -> None:
        await self.say([Reply(text)])

    async def handle(self, line: str) -> None:
        """One ``staff ...`` line (without the word ``staff``)."""
        text = line.strip()
        try:
            if not text:
                self.channel.write(STAFF_HINT)
            elif text.isdigit():
                await self.press(int(text))
            elif text.startswith("/find"):
                await self.find(text.removeprefix("/find").strip())
            elif text.startswith("/stats"):
                await self.stats(text.removeprefix("/stats").strip())
            elif text.startswith("/export"):
                await self.export(text.removeprefix("/export").strip())
            elif text == "/cancel" and self.awaiting is not None:
                self.awaiting = None
                await self.note(self.t("staff_prompt_cancelled"))
            else:
                await self.text(text)
        finally:
            if self.wake is not None:
                self.wake()

    # --- buttons ---------------------------------------------------------------------------

    async def press(self, number: int) -> None:
        buttons = self.channel.staff_buttons
        if not 1 <= number <= len(buttons):
            self.channel.write(f"(no staff button {number}: the latest card has {len(buttons)})\n")
            return
        payload = parse(buttons[number - 1].payload)
        if payload is None:
            await self.note(self.t("staff_unknown_button"))
            return
        request_id = int(payload.args[0]) if payload.args and payload.args[0].isdigit() else 0
        if payload.action == STAFF_STATUS_ACTION and len(payload.args) > 1:
            await self.change_status(request_id, Status(payload.args[1]), note=None)
        elif payload.action == ASSIGN_ACTION:
            await self.assign(request_id, payload.args[1:])
        elif payload.action == ACTION_CLOSE:
            await self.close_relay(request_id)
        elif payload.action == ACTION_TO_REQUEST:
            await self.relay_to_request(request_id)
        else:
            self.channel.write("(this button is not available in the console)\n")

    async def change_status(self, request_id: int, status: Status, *, note: str | None) -> None:
        try:
            async with self.storage.transaction() as session:
                request = await self.requests.change_status(
                    session, request_id, status, OPERATOR, note
                )
                history = await self.requests.history(session, request_id)
        except MissingNote:
            self.awaiting = (request_id, status)
            found = await self._card(request_id)
            number = found[0] if found else str(request_id)
            prompt = self.t(f"staff_prompt_{status.value}", who=OPERATOR.name, number=number)
            await self.note(prompt + "\n(type: staff TEXT)")
            return
        except InvalidTransition as error:
            label = status_label(self.requests.texts, STAFF_LANGUAGE, error.current)
            await self.note(self.t("staff_invalid_transition", status=label))
            return
        except RequestNotFound:
            await self.note(self.t("staff_not_found", number=request_id))
            return
        except RequestError as error:
            logger.warning("console: request %s refused: %s", request_id, type(error).__name__)
            await self.note(self.t("staff_error"))
            return
        self.awaiting = None
        label = status_label(self.requests.texts, STAFF_LANGUAGE, request.status)
        key = "staff_prompt_applied" if note else "staff_status_done"
        await self.say([Reply(self.t(key, status=label, number=request.number))])
        await self._card_if_not_shown(request, history)

    async def assign(self, request_id: int, args: tuple[str, ...]) -> None:
        if not args:  # the executor picker, as its own staff message
            rows = tuple(
                (Button(executor.name, build(ASSIGN_ACTION, request_id, executor.id)),)
                for executor in self.requests.routing.executors.values()
            )
            await self.say([Reply(self.t("staff_choose_executor"), buttons=rows)])
            return
        try:
            async with self.storage.transaction() as session:
                request = await self.requests.assign(session, request_id, args[0], OPERATOR)
                history = await self.requests.history(session, request_id)
        except RequestError:
            await self.note(self.t("staff_error"))
            return
        name = self.requests.routing.executors[args[0]].name
        await self.say([Reply(self.t("staff_assigned", executor=name))])
        await self._card_if_not_shown(request, history)

    async def _card_if_not_shown(self, request: Request, history: Sequence[StatusChange]) -> None:
        """The card after a change: a card this pane has shown is printed again, marked as
        updated, by the delivery worker (``services.card_copies``); one it has not shown yet is
        printed here."""
        async with self.storage.transaction() as session:
            copies = await session.card_copies.for_request(request.id)
        if any(copy.chat == STAFF_CHAT for copy in copies):
            return
        await self.say(
            [
                self.requests.render_card(
                    request, history, STAFF_LANGUAGE, shown_in=ChannelName.CONSOLE
                )
            ]
        )

    async def close_relay(self, relay_id: int) -> None:
        try:
            async with self.storage.transaction() as session:
                await self.relay.close_by_operator(
                    session, relay_id, actor=OPERATOR, now=self.requests.clock.now()
                )
        except RelayError:
            await self.note(self.t("staff_error"))

    async def relay_to_request(self, relay_id: int) -> None:
        try:
            async with self.storage.transaction() as session:
                await self.relay.to_request(
                    session,
                    relay_id,
                    actor=OPERATOR,
                    create=self.requests.create,
                    now=self.requests.clock.now(),
                )
        except RelayError:
            await self.note(self.t("staff_error"))

    # --- commands --------------------------------------------------------------------------

    async def find(self, query: str) -> None:
        if not query:
            await self.note(self.t("staff_find_usage"))
            return
        async with self.storage.transaction() as session:
            found = await self.requests.find(session, query)
            cards = [
                self.requests.render_card(
                    request,
                    await self.requests.history(session, request.id),
                    STAFF_LANGUAGE,
                    shown_in=ChannelName.CONSOLE,
                )
                for request in found[:FIND_LIMIT]
            ]
        await self.say(cards or [Reply(self.t("staff_not_found", number=query))])

    async def stats(self, args: str) -> None:
        clock = self.requests.clock
        now = clock.now()
        try:
            period = parse_period(args, now=now, tz=clock.tz)
        except PeriodError as error:
            await self.note(self.t("ntf_stats_bad_period", error=str(error)))
            return
        report = await load_report(self.storage, period, now=now)
        title = self.t("ntf_stats_title", period=period.label())
        replies = await build_report(report, self.labels, title=title)
        shown: list[Reply] = []
        for reply in replies:
            if reply.image:
                path = self._write(f"stats_{period.first}_{period.last}.png", reply.image)
                shown.append(Reply(f"{reply.text}\n📈 chart: {path}".strip()))
            else:
                shown.append(reply)
        await self.say(shown)

    async def export(self, args: str) -> None:
        clock = self.requests.clock
        try:
            period = parse_period(args, now=clock.now(), tz=clock.tz)
        except PeriodError as error:
            await self.note(self.t("ntf_stats_bad_period", error=str(error)))
            return
        async with self.storage.snapshot() as session:
            rows = await session.stats.export_requests(
                start=period.start, end=period.end, personal=True
            )
        if not rows:
            await self.note(self.t("ntf_export_empty", period=period.label()))
            return
        data = export_csv(rows, tz=clock.tz, personal=True)
        path = self._write(f"requests_{period.first}_{period.last}.csv", data)
        caption = self.t("ntf_export_caption", period=period.label(), count=len(rows))
        await self.note(f"{caption}\n📄 CSV: {path}")

    # --- text ------------------------------------------------------------------------------

    async def text(self, text: str) -> None:
        if self.awaiting is not None:
            request_id, status = self.awaiting
            await self.change_status(request_id, status, note=text)
            return
        async with self.storage.transaction() as session:
            resident = await session.residents.get(self.resident)
            relay = await self.relay.own_open(session, resident) if resident else None
            if relay is not None:
                await self.relay.to_resident(
                    session,
                    relay.id,
                    text=text,
                    photo_ref=None,
                    author=OPERATOR,
                    source_key=f"console:{uuid.uuid4().hex}",
                    now=self.requests.clock.now(),
                    photo_channel=ChannelName.CONSOLE,
                )
        if relay is None:
            self.channel.write(
                "(nothing to answer: no open conversation with the resident and no note asked"
                " for; press a card's button with `staff N`)\n"
            )

    async def _card(self, request_id: int) -> tuple[str] | None:
        async with self.storage.transaction() as session:
            request = await self.requests.get(session, request_id)
        return (request.number,) if request is not None else None

    def _write(self, name: str, data: bytes) -> Path:
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / name
        path.write_bytes(data)
        return path.resolve()
