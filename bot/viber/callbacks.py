"""Viber callback bodies as typed, validated models, and their mapping onto ``Incoming``.

Viber posts one JSON object per event. Everything the bot relies on is validated here, at the
trust boundary; fields we do not use are ignored so that new Viber fields never break the bot.
An event or message type Viber adds later parses as ``UnknownEvent`` / ``OtherMessage``.

Parsing has two steps. The pydantic models below validate the body first, because viberbot
is too lax to stand at the trust boundary: its ``from_dict`` methods check no type or range
(a numeric text, a latitude of 91 or NaN, an empty user id all pass) and answer a missing
field with ``KeyError`` and an unknown event or message type with a bare ``Exception``. The
validated, normalised callback then goes through viberbot's ``create_request``, and
``to_incoming`` reads the message from the request and message objects viberbot built
(``TextMessage``, ``PictureMessage``, ``LocationMessage``, ...). Message types viberbot does
not know (it raises on them) keep only our ``OtherMessage``, as unknown events keep only
``UnknownEvent``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
)

from bot.viber import sdk
from bot.viber.errors import ViberCallbackError
from domain.identity import ChannelName, UserRef
from domain.messages import Contact, Incoming, Kind, Location, Photo

__all__ = [
    "BUTTON_PAYLOAD_PREFIX",
    "ContactMessage",
    "ConversationStartedEvent",
    "DeliveredEvent",
    "FailedEvent",
    "FileMessage",
    "LocationMessage",
    "MessageEvent",
    "OtherMessage",
    "PictureMessage",
    "RichMediaMessage",
    "SeenEvent",
    "StickerMessage",
    "SubscribedEvent",
    "TextMessage",
    "UnknownEvent",
    "UnsubscribedEvent",
    "UrlMessage",
    "ViberEvent",
    "ViberMessage",
    "ViberUser",
    "VideoMessage",
    "WebhookEvent",
    "parse_callback",
    "to_incoming",
    "viber_user",
]

# Our button payloads are versioned ASCII strings ("v1:..."); a Viber "reply" button sends its
# ActionBody back as an ordinary text message, so this prefix is how a press is recognised.
BUTTON_PAYLOAD_PREFIX = "v1:"

# Viber will not deliver longer texts; a longer one is cut rather than rejected, because a
# rejected (non-200) callback is retried by Viber for an hour.
MAX_INCOMING_TEXT = 7000


def _token_to_str(value: object) -> str:
    """Viber sends ``message_token`` as a 64-bit JSON integer; we keep it as a string."""
    if isinstance(value, bool):
        raise ValueError("message_token must be an integer or a string")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 64:
        return value
    raise ValueError("message_token must be an integer or a short string")


MessageToken = Annotated[str, BeforeValidator(_token_to_str)]
ViberId = Annotated[str, Field(min_length=1, max_length=256)]
Url = Annotated[str, Field(min_length=1, max_length=4096)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ViberUser(_Model):
    """The ``sender`` / ``user`` object of a callback; only ``id`` is guaranteed."""

    id: ViberId
    name: str | None = None
    avatar: str | None = None
    language: str | None = None
    country: str | None = None
    api_version: int | None = None


class ViberLocation(_Model):
    """A ``location`` object: WGS 84 degrees."""

    lat: Latitude
    lon: Longitude


class ViberContact(_Model):
    """A ``contact`` object, as sent by the share-phone button or a shared contact card."""

    name: str | None = None
    phone_number: Annotated[str, Field(min_length=1, max_length=64)]
    avatar: str | None = None


class _MessageBase(_Model):
    # Echoed back from what we sent; we do not rely on it, but validate that it is a string.
    tracking_data: str | None = None


class TextMessage(_MessageBase):
    """A text typed by the person, or the ActionBody of a pressed "reply" button."""

    type: Literal["text"]
    text: str


class PictureMessage(_MessageBase):
    """A photo; ``media`` is a temporary download URL on Viber's servers."""

    type: Literal["picture"]
    media: Url
    text: str | None = None
    thumbnail: str | None = None
    file_name: str | None = None
    size: int | None = None


class LocationMessage(_MessageBase):
    """A point picked on the map (or shared with the location-picker button)."""

    type: Literal["location"]
    location: ViberLocation


class ContactMessage(_MessageBase):
    """A phone number shared with the share-phone button (or a contact card)."""

    type: Literal["contact"]
    contact: ViberContact


class FileMessage(_MessageBase):
    """A document."""

    type: Literal["file"]
    media: str | None = None
    file_name: str | None = None
    size: int | None = None


class StickerMessage(_MessageBase):
    """A sticker."""

    type: Literal["sticker"]
    sticker_id: int | None = None
    media: str | None = None


class VideoMessage(_MessageBase):
    """A video."""

    type: Literal["video"]
    media: str | None = None
    size: int | None = None
    duration: int | None = None
    thumbnail: str | None = None


class UrlMessage(_MessageBase):
    """A link sent on its own."""

    type: Literal["url"]
    media: Url


class RichMediaMessage(_MessageBase):
    """A carousel forwarded by the person; the bot does not read it."""

    type: Literal["rich_media"]
    rich_media: dict[str, Any] | None = None
    alt_text: str | None = None


class OtherMessage(_MessageBase):
    """Any message type this adapter does not know (yet)."""

    type: str


_MESSAGE_TYPES = frozenset(
    {"text", "picture", "location", "contact", "file", "sticker", "video", "url", "rich_media"}
)


def _message_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return kind if kind in _MESSAGE_TYPES else "other"


ViberMessage = Annotated[
    Annotated[TextMessage, Tag("text")]
    | Annotated[PictureMessage, Tag("picture")]
    | Annotated[LocationMessage, Tag("location")]
    | Annotated[ContactMessage, Tag("contact")]
    | Annotated[FileMessage, Tag("file")]
    | Annotated[StickerMessage, Tag("sticker")]
    | Annotated[VideoMessage, Tag("video")]
    | Annotated[UrlMessage, Tag("url")]
    | Annotated[RichMediaMessage, Tag("rich_media")]
    | Annotated[OtherMessage, Tag("other")],
    Discriminator(_message_tag),
]


class _EventBase(_Model):
    timestamp: int | None = None
    chat_hostname: str | None = None

    # viberbot's request object for this callback, attached by ``parse_callback``.
    _request: sdk.ViberRequestLike | None = PrivateAttr(default=None)

    @property
    def request(self) -> sdk.ViberRequestLike | None:
        """viberbot's request for this callback; ``None`` where viberbot cannot parse it."""
        return self._request

    def attach_request(self, request: sdk.ViberRequestLike) -> None:
        """Keep viberbot's request for this callback (``parse_callback`` does it)."""
        self._request = request


class WebhookEvent(_EventBase):
    """Viber's check of the URL while ``set_webhook`` runs; answered with 200."""

    event: Literal["webhook"]
    message_token: MessageToken | None = None


class ConversationStartedEvent(_EventBase):
    """The person opened the chat; the answer body may carry one welcome message."""

    event: Literal["conversation_started"]
    message_token: MessageToken | None = None
    type: str | None = None
    context: str | None = None
    user: ViberUser
    subscribed: bool | None = None


class SubscribedEvent(_EventBase):
    """The person subscribed (wrote to the bot or pressed "subscribe")."""

    event: Literal["subscribed"]
    user: ViberUser
    message_token: MessageToken | None = None


class UnsubscribedEvent(_EventBase):
    """The person unsubscribed; sending to them now fails with receiverNotSubscribed."""

    event: Literal["unsubscribed"]
    user_id: ViberId
    message_token: MessageToken | None = None


class MessageEvent(_EventBase):
    """A message from a person."""

    event: Literal["message"]
    message_token: MessageToken
    sender: ViberUser
    message: ViberMessage
    silent: bool | None = None
    reply_type: str | None = None
    chat_id: str | None = None


class DeliveredEvent(_EventBase):
    """A message of ours reached the person's device."""

    event: Literal["delivered"]
    message_token: MessageToken
    user_id: ViberId | None = None


class SeenEvent(_EventBase):
    """The person saw a message of ours."""

    event: Literal["seen"]
    message_token: MessageToken
    user_id: ViberId | None = None


class FailedEvent(_EventBase):
    """A message of ours could not be delivered to the person's device."""

    event: Literal["failed"]
    message_token: MessageToken
    user_id: ViberId | None = None
    desc: str | None = None


class UnknownEvent(_EventBase):
    """An event this adapter does not know (yet); acknowledged and ignored."""

    event: str


_EVENTS = frozenset(
    {
        "webhook",
        "conversation_started",
        "subscribed",
        "unsubscribed",
        "message",
        "delivered",
        "seen",
        "failed",
    }
)


def _event_tag(value: Any) -> str | None:
    event = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
    if not isinstance(event, str):
        return None
    return event if event in _EVENTS else "unknown"


ViberEvent = Annotated[
    Annotated[WebhookEvent, Tag("webhook")]
    | Annotated[ConversationStartedEvent, Tag("conversation_started")]
    | Annotated[SubscribedEvent, Tag("subscribed")]
    | Annotated[UnsubscribedEvent, Tag("unsubscribed")]
    | Annotated[MessageEvent, Tag("message")]
    | Annotated[DeliveredEvent, Tag("delivered")]
    | Annotated[SeenEvent, Tag("seen")]
    | Annotated[FailedEvent, Tag("failed")]
    | Annotated[UnknownEvent, Tag("unknown")],
    Discriminator(_event_tag),
]

_EVENT_ADAPTER: TypeAdapter[ViberEvent] = TypeAdapter(ViberEvent)


def parse_callback(body: bytes | str) -> ViberEvent:
    """Parse a raw callback body; raise ``ViberCallbackError`` if it is not a valid callback.

    The error message names the problem's location, never the body's content.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON and bad UTF-8; deep nesting exhausts the recursion limit.
        raise ViberCallbackError("callback body is not JSON") from exc
    if not isinstance(data, dict):
        raise ViberCallbackError("callback body is not a JSON object")
    try:
        event = _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        where = ", ".join(
            ".".join(str(part) for part in error["loc"]) or "body" for error in exc.errors()[:3]
        )
        raise ViberCallbackError(f"callback is not shaped like a Viber callback: {where}") from exc
    except RecursionError as exc:
        raise ViberCallbackError("callback body is nested too deeply") from exc
    if _viberbot_parses(event):
        # viberbot reads the validated, normalised callback: every key it requires is there
        # (``None`` where Viber left it out) and every value has the type it expects.
        try:
            event.attach_request(sdk.create_request(event.model_dump()))
        except (sdk.ViberSdkError, RecursionError) as exc:
            raise ViberCallbackError(f"callback not accepted by viberbot: {exc}") from exc
    return event


def _viberbot_parses(event: ViberEvent) -> bool:
    """Whether viberbot knows this event (and message) type; it raises on the others."""
    if isinstance(event, MessageEvent):
        return event.message.type in sdk.SUPPORTED_MESSAGE_TYPES
    return event.event in sdk.SUPPORTED_EVENTS


def viber_user(user_id: str) -> UserRef:
    """The channel-neutral reference of a Viber user id."""
    return UserRef(ChannelName.VIBER, user_id)


def to_incoming(event: ViberEvent) -> Incoming | None:
    """The ``Incoming`` a ``message`` event carries; ``None`` for every other event.

    The content comes from viberbot's message object; the sender and the token from the
    validated model (its token is already the string we key redeliveries by).
    """
    if not isinstance(event, MessageEvent):
        return None
    sender = event.sender
    common: dict[str, Any] = {
        "user": viber_user(sender.id),
        "display_name": sender.name or None,
        "language_hint": sender.language or None,
        "update_key": f"viber:{event.message_token}",
    }
    request = event.request
    # No request: a message type viberbot does not know; it is kept as "other".
    message = request.message if isinstance(request, sdk.ViberMessageRequest) else None
    match message:
        case sdk.TextMessage(text=text) if text.startswith(BUTTON_PAYLOAD_PREFIX):
            return Incoming(kind=Kind.BUTTON, payload=text, **common)
        case sdk.TextMessage(text=text):
            return Incoming(kind=Kind.TEXT, text=text[:MAX_INCOMING_TEXT], **common)
        case sdk.UrlMessage(media=url):
            return Incoming(kind=Kind.TEXT, text=url[:MAX_INCOMING_TEXT], **common)
        case sdk.LocationMessage(location=point):
            location = Location(latitude=point.latitude, longitude=point.longitude)
            return Incoming(kind=Kind.LOCATION, location=location, **common)
        case sdk.ContactMessage(contact=card):
            # Viber does not say whose number it is; the share-phone button sends the sender's.
            contact = Contact(phone=card.phone_number, own=True, name=card.name or None)
            return Incoming(kind=Kind.CONTACT, contact=contact, **common)
        case sdk.PictureMessage(media=url, text=text):
            caption = text[:MAX_INCOMING_TEXT] if text else None
            photo = Photo(ref=url, caption=caption)
            return Incoming(kind=Kind.PHOTO, text=caption, photo=photo, **common)
        case sdk.StickerMessage():
            return Incoming(kind=Kind.STICKER, **common)
        case sdk.VideoMessage():
            return Incoming(kind=Kind.VIDEO, **common)
        case sdk.FileMessage():
            return Incoming(kind=Kind.DOCUMENT, **common)
        case _:
            # rich_media, keyboard, and the types viberbot does not know.
            return Incoming(kind=Kind.OTHER, **common)
