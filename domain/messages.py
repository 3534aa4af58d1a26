"""Channel-neutral values that cross the boundary between channel adapters and the conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.identity import ChannelName, UserRef

__all__ = [
    "Button",
    "ButtonKind",
    "ChannelName",
    "Contact",
    "Incoming",
    "Kind",
    "Location",
    "Photo",
    "Reply",
    "UserRef",
    "said",
]


class Kind(StrEnum):
    """What an incoming message carries; adapters map every platform type onto one of these."""

    TEXT = "text"
    BUTTON = "button"
    LOCATION = "location"
    CONTACT = "contact"
    PHOTO = "photo"
    STICKER = "sticker"
    VOICE = "voice"
    VIDEO = "video"
    DOCUMENT = "document"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Location:
    """A point shared by a resident (WGS 84 degrees)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Contact:
    """A phone number shared with the platform's contact button.

    ``own`` is true when the platform tells us it is the sender's own contact card.
    """

    phone: str
    own: bool = True
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Photo:
    """A picture reference the same channel can send again (Telegram file_id, Viber URL), or
    a file the bot kept (``media:<sha256>.<ext>``, ``domain.media``)."""

    ref: str
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message or button press from a resident or a staff member, already validated.

    ``update_key`` identifies the platform delivery (Telegram ``update_id``, Viber
    ``message_token``) so a redelivered update is processed once; ``None`` disables the check.
    """

    user: UserRef
    kind: Kind
    text: str | None = None
    payload: str | None = None
    location: Location | None = None
    contact: Contact | None = None
    photo: Photo | None = None
    display_name: str | None = None
    language_hint: str | None = None
    update_key: str | None = None


def said(incoming: Incoming) -> str | None:
    """What the person wrote in their own words: a text that is not a command, or a caption."""
    if incoming.kind is Kind.TEXT and incoming.text and not incoming.text.lstrip().startswith("/"):
        return incoming.text
    if incoming.kind is Kind.PHOTO and incoming.photo is not None and incoming.photo.caption:
        return incoming.photo.caption
    return None


class ButtonKind(StrEnum):
    """How a button behaves: a payload back to us, or a platform picker."""

    PAYLOAD = "payload"
    SHARE_LOCATION = "share_location"
    SHARE_CONTACT = "share_contact"
    URL = "url"


@dataclass(frozen=True, slots=True)
class Button:
    """A button: ``payload`` comes back in ``Incoming.payload`` when pressed (or is a URL)."""

    label: str
    payload: str = ""
    kind: ButtonKind = ButtonKind.PAYLOAD


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to show a person: plain text (never markup) plus optional buttons and media.

    ``title`` is shown emphasised where the channel can (bold in Telegram). ``buttons`` are
    rows of buttons. ``image`` is raw PNG bytes (charts); ``photo`` re-sends a platform photo.
    """

    text: str
    title: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    location: Location | None = None
    photo: Photo | None = None
    image: bytes | None = None
    image_name: str = "image.png"
    document: bytes | None = None
    document_name: str = "file.csv"

    @property
    def all_buttons(self) -> tuple[Button, ...]:
        return tuple(button for row in self.buttons for button in row)


@dataclass(frozen=True, slots=True)
class Handled:
    """What one update produced: the replies, and the id of their durable copy when they were
    committed with the update (``Conversation.process``); the sender marks that copy sent."""

    replies: list[Reply] = field(default_factory=list)
    kept_id: int | None = None
    # False when nothing was committed because the database stayed busy: the platform should
    # get an error status so that it delivers the update again (nothing is lost).
    committed: bool = True


def photo_shown_in(ref: str, *, taken_in: ChannelName, shown_in: ChannelName) -> bool:
    """Whether a stored photo reference can be shown in another channel's chat: a platform's
    file id (a Telegram ``file_id``) only by the channel that gave it; a web address by any
    (Telegram fetches a Viber photo's URL); a photo the bot kept itself (``media:``, see
    ``domain.media``) by any that can upload it. A console reference is a placeholder."""
    return taken_in is shown_in or ref.startswith(("https://", "http://", "media:"))
