"""The console channel: the same conversation in a terminal, buttons shown numbered."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TextIO

from bot.console_staff import STAFF_CHAT, STAFF_HINT, StaffConsole
from domain.channel import Sent
from domain.messages import (
    Button,
    ButtonKind,
    ChannelName,
    Contact,
    Incoming,
    Kind,
    Location,
    Reply,
    UserRef,
)

CONSOLE_USER = UserRef(ChannelName.CONSOLE, "local")
_LOCATION = re.compile(r"^/?loc(?:ation)?\s+(-?\d+(?:\.\d+)?)[,\s]+(-?\d+(?:\.\d+)?)$", re.I)
_CONTACT = re.compile(r"^/?contact\s+(\+?[\d\s()-]{7,20})$", re.I)

HINT = (
    "Console chat. Type a message, or a button's number to press it.\n"
    "  loc 47.91 33.39   share a location      contact +380671234567   share a phone\n"
    "  photo             send a sample photo   quit                     leave\n"
)


class ConsoleChannel:
    """Prints replies to a text stream and remembers the last buttons so a number presses one."""

    name = ChannelName.CONSOLE

    def __init__(self, out: TextIO | None = None, *, updated: str = "(картку оновлено)") -> None:
        self._out = out or sys.stdout
        # The mark of a card printed again because it was edited (the staff texts' language).
        self._updated = updated
        self.buttons: list[Button] = []
        # The staff pane (``--staff``): the buttons of the latest staff message that had some.
        self.staff_buttons: list[Button] = []
        self._sent = 0

    def write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def send(self, chat: UserRef, replies: Sequence[Reply]) -> list[Sent]:
        sent: list[Sent] = []
        for reply in replies:
            self._sent += 1
            self._print(reply, staff=chat == STAFF_CHAT)
            sent.append(Sent(str(self._sent), main=True))
        return sent

    async def edit(self, chat: UserRef, message: Sent, reply: Reply) -> None:
        """A terminal cannot change what it printed: the card is printed again, marked as
        updated (its buttons become the ones ``staff N`` presses)."""
        title = f"{reply.title} {self._updated}" if reply.title else self._updated
        self._print(
            replace(reply, title=title, photo=None, location=None), staff=chat == STAFF_CHAT
        )

    def _print(self, reply: Reply, *, staff: bool = False) -> None:
        lines = ["", "🤖 " + (reply.title.upper() if reply.title else "")] if reply.title else [""]
        lines.append(reply.text)
        if reply.location:
            lines.append(f"📍 {reply.location.latitude:.5f}, {reply.location.longitude:.5f}")
        if reply.image:
            lines.append(f"[image {reply.image_name}, {len(reply.image)} bytes]")
        if reply.document:
            lines.append(f"[file {reply.document_name}, {len(reply.document)} bytes]")
        if reply.buttons:
            pressed: list[Button] = []
            for row in reply.buttons:
                cells = []
                for button in row:
                    pressed.append(button)
                    cells.append(f"[{len(pressed)}] {button.label}")
                lines.append("   ".join(cells))
            if staff:
                self.staff_buttons = pressed
            else:
                self.buttons = pressed
        if staff:
            body = "\n".join(lines[1:]).split("\n")
            lines = [lines[0], *(f"[staff] {line}" for line in body)]
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()

    def to_incoming(self, line: str, user: UserRef = CONSOLE_USER) -> Incoming | None:
        """Turn a typed line into an incoming message (None for an empty line)."""
        text = line.strip()
        if not text:
            return None
        if text.isdigit() and self.buttons and 1 <= int(text) <= len(self.buttons):
            button = self.buttons[int(text) - 1]
            if button.kind is ButtonKind.PAYLOAD:
                return Incoming(user, Kind.BUTTON, payload=button.payload)
            if button.kind is ButtonKind.URL:
                self._out.write(f"(open {button.payload} in a browser)\n")
                return None
            if button.kind is ButtonKind.SHARE_LOCATION:
                self._out.write("(type: loc LATITUDE LONGITUDE)\n")
                return None
            self._out.write("(type: contact +380XXXXXXXXX)\n")
            return None
        if match := _LOCATION.match(text):
            location = Location(float(match.group(1)), float(match.group(2)))
            return Incoming(user, Kind.LOCATION, location=location)
        if match := _CONTACT.match(text):
            return Incoming(user, Kind.CONTACT, contact=Contact(match.group(1).strip()))
        if text.lower() == "photo":
            from domain.messages import Photo  # noqa: PLC0415

            return Incoming(user, Kind.PHOTO, photo=Photo("console-sample-photo"))
        return Incoming(user, Kind.TEXT, text=text)


async def run_console(
    handle: Callable[[Incoming], Awaitable[list[Reply]]],
    channel: ConsoleChannel,
    *,
    read_line: Callable[[], Awaitable[str]] | None = None,
    greet: bool = True,
    staff: StaffConsole | None = None,
) -> None:
    """Read lines until EOF or ``quit``; each line goes through the conversation."""

    async def from_stdin() -> str:
        return await asyncio.to_thread(sys.stdin.readline)

    reader = read_line or from_stdin
    out = channel._out
    out.write(HINT)
    if staff is not None:
        out.write(STAFF_HINT)
    if greet:
        await channel.send(
            CONSOLE_USER, await handle(Incoming(CONSOLE_USER, Kind.TEXT, text="/start"))
        )
    while True:
        out.write("\n> ")
        out.flush()
        line = await reader()
        if not line or line.strip().lower() in {"quit", "exit", "/quit"}:
            out.write("\nBye.\n")
            return
        words = line.strip().split(maxsplit=1)
        if staff is not None and words and words[0].lower() == "staff":
            await staff.handle(words[1] if len(words) > 1 else "")
            continue
        incoming = channel.to_incoming(line)
        if incoming is not None:
            await channel.send(CONSOLE_USER, await handle(incoming))
