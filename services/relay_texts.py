"""What the operator relay says: the staff-chat header and copies, the operator's answer and the
closing notes, with their buttons (payload ``v1:<action>[:<session id>]``).

Plain ``Reply`` values, no storage: ``services.relay.RelayService`` decides what is sent when.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.identity import ChannelName, UserRef
from domain.messages import Button, Photo, Reply
from domain.payloads import build
from domain.texts import Texts
from storage.base import Resident
from storage.relay import RelayMessage, RelaySession

__all__ = [
    "ACTION_CLOSE",
    "ACTION_END",
    "ACTION_OPEN",
    "ACTION_TO_REQUEST",
    "DESCRIPTION_LIMIT",
    "STAFF_LANGUAGE",
    "RelayTexts",
    "channel_title",
    "conversation_text",
    "is_threaded",
]

STAFF_LANGUAGE = "uk"
# Resident-side and staff-side button actions (payload ``v1:<action>:<session id>``).
ACTION_OPEN = "operator"
ACTION_END = "relay_end"
ACTION_CLOSE = "relay_close"
ACTION_TO_REQUEST = "relay_req"
DESCRIPTION_LIMIT = 3500  # what a card can show of a conversation turned into a request


def is_threaded(chat: UserRef) -> bool:
    """A staff-chat address of a thread (a forum topic): ``chat/thread``."""
    return chat.thread is not None


def conversation_text(messages: Sequence[RelayMessage], *, empty: str) -> str:
    """The resident's messages as one description, cut to what a card shows."""
    text = "\n".join(m.text.strip() for m in messages if m.text and m.text.strip())
    if not text:
        return empty
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def channel_title(texts: Texts, language: str, channel: ChannelName) -> str:
    """The channel's name in ``language`` (``req_channel_<channel>`` in the text catalogue)."""
    return texts.get(language, f"req_channel_{channel.value}")


class RelayTexts:
    """The relay's replies: staff-side ones in ``staff_language``, the resident's in theirs."""

    def __init__(self, texts: Texts, *, staff_language: str = STAFF_LANGUAGE) -> None:
        self.texts = texts
        self.staff_language = staff_language

    def staff(self, key: str, /, **values: object) -> str:
        return self.texts.get(self.staff_language, key, **values)

    # --- in the staff chat ---------------------------------------------------------------

    def header(self, relay: RelaySession, resident: Resident, *, threaded: bool) -> Reply:
        """The first message of a conversation in the staff chat, with the operator buttons."""
        how = "relay_staff_how_topic" if threaded else "relay_staff_how_reply"
        text = self.staff(
            "relay_staff_header",
            channel=channel_title(self.texts, self.staff_language, resident.user.channel),
            language=resident.language,
        )
        return Reply(
            text + "\n" + self.staff(how),
            title=self.staff("relay_staff_title", number=relay.id),
            buttons=(self.staff_buttons(relay.id),),
        )

    def staff_buttons(self, relay_id: int) -> tuple[Button, ...]:
        return (
            Button(self.staff("relay_staff_btn_close"), build(ACTION_CLOSE, relay_id)),
            Button(self.staff("relay_staff_btn_request"), build(ACTION_TO_REQUEST, relay_id)),
        )

    def staff_copy(self, relay: RelaySession, message: RelayMessage, *, threaded: bool) -> Reply:
        """A resident's message as staff see it."""
        # In a topic the topic itself says whose conversation it is; in a plain group every
        # message carries the number, since operators answer by replying to it.
        title = None if threaded else self.staff("relay_staff_title", number=relay.id)
        photo = Photo(message.photo_ref) if message.photo_ref else None
        return Reply(message.text or "", title=title, photo=photo)

    def staff_note(self, relay: RelaySession, text: str) -> Reply:
        """A note about the conversation (it was closed) under its number."""
        return Reply(text, title=self.staff("relay_staff_title", number=relay.id))

    # --- to the resident -----------------------------------------------------------------

    def resident_buttons(self, language: str, relay_id: int) -> tuple[Button, ...]:
        return (
            Button(self.texts.get(language, "relay_btn_reply"), build(ACTION_OPEN)),
            Button(self.texts.get(language, "relay_btn_end"), build(ACTION_END, relay_id)),
        )

    def operator_answer(
        self, language: str, relay_id: int, *, text: str | None, photo_ref: str | None
    ) -> Reply:
        """An operator's answer, with "reply" and "end" under it."""
        return Reply(
            text or "",
            title=self.texts.get(language, "relay_operator_title"),
            photo=Photo(photo_ref) if photo_ref else None,
            buttons=(self.resident_buttons(language, relay_id),),
        )

    def closed_for_resident(self, language: str, text_key: str, /, **values: object) -> Reply:
        """The resident's note that an operator ended the conversation, with the menu button."""
        menu_row = (Button(self.texts.get(language, "btn_menu"), build("menu")),)
        return Reply(self.texts.get(language, text_key, **values), buttons=(menu_row,))
