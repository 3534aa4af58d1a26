"""The typed edge of ``viberbot``, the official Viber library: the parts of it this adapter uses.

``viberbot`` has no type hints (mypy sees it as ``Any``, see pyproject's mypy overrides), so
this module is the only one that imports it. It hands out its request and message classes
typed by small protocols (they stay the real classes at run time, so ``isinstance`` and
``match`` work) and wraps its constructors and ``create_request`` in typed functions.

What is used: ``create_request`` and the request / message classes it builds from a callback
(``callbacks.py``), and the message classes with their ``validate()`` and ``to_dict()`` for
what we send (``render.py``). What is not, and why:

- ``Api`` and its ``ApiRequestSender`` / ``MessageSender``: they post with ``requests``,
  synchronously and without a timeout, which would block the event loop; ``client.py`` sends
  with aiohttp instead.
- ``Api.verify_signature``: it compares the signatures with ``==``, which leaks timing;
  ``signature.py`` uses ``hmac.compare_digest``.
- Keyboards: viberbot has no keyboard or button classes (a message takes the keyboard as a
  plain dict), so ``render.py`` lays them out itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Protocol, cast

# viberbot (last released in 2021) imports the py2/py3 compatibility package ``future``, whose
# helpers have raised DeprecationWarnings on newer Pythons. On 3.11-3.13 the import is clean
# today, but pytest turns warnings into errors, and one raised here would break the whole Viber
# adapter at import; so DeprecationWarnings from these two packages, during this import only,
# are ignored. Anything else still surfaces.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", category=DeprecationWarning, module=r"(viberbot|future|past)(\.|$)"
    )
    from viberbot.api import messages as _messages
    from viberbot.api import viber_requests as _requests
    from viberbot.api.messages.data_types.location import Location as _Location

from bot.viber.errors import ViberError

__all__ = [
    "SUPPORTED_EVENTS",
    "SUPPORTED_MESSAGE_TYPES",
    "ContactMessage",
    "FileMessage",
    "LocationMessage",
    "PictureMessage",
    "StickerMessage",
    "TextMessage",
    "UrlMessage",
    "ViberContactLike",
    "ViberLocationLike",
    "ViberMessageRequest",
    "ViberRequestLike",
    "ViberSdkError",
    "VideoMessage",
    "create_request",
    "keyboard_message",
    "location_message",
    "picture_message",
    "text_message",
]

Json = dict[str, Any]


class ViberSdkError(ViberError, ValueError):
    """viberbot refused a callback or a message (its own exceptions are bare ``Exception``)."""


# --- what the request and message objects offer, as far as this adapter reads them ---------


class ViberRequestLike(Protocol):
    """Any ``viberbot.api.viber_requests`` request."""

    @property
    def event_type(self) -> str: ...


class ViberMessageRequestLike(ViberRequestLike, Protocol):
    """``ViberMessageRequest``: a ``message`` callback."""

    @property
    def message(self) -> object: ...


class ViberLocationLike(Protocol):
    @property
    def latitude(self) -> float: ...

    @property
    def longitude(self) -> float: ...


class ViberContactLike(Protocol):
    @property
    def name(self) -> str | None: ...

    @property
    def phone_number(self) -> str: ...


class _TextLike(Protocol):
    @property
    def text(self) -> str: ...


class _MediaLike(Protocol):
    @property
    def media(self) -> str: ...


class _PictureLike(Protocol):
    @property
    def media(self) -> str: ...

    @property
    def text(self) -> str: ...


class _LocationMessageLike(Protocol):
    @property
    def location(self) -> ViberLocationLike: ...


class _ContactMessageLike(Protocol):
    @property
    def contact(self) -> ViberContactLike: ...


class _AnyMessage(Protocol):
    """A message viberbot parsed; only its class tells what it is."""


ViberMessageRequest = cast("type[ViberMessageRequestLike]", _requests.ViberMessageRequest)
TextMessage = cast("type[_TextLike]", _messages.TextMessage)
UrlMessage = cast("type[_MediaLike]", _messages.URLMessage)
PictureMessage = cast("type[_PictureLike]", _messages.PictureMessage)
LocationMessage = cast("type[_LocationMessageLike]", _messages.LocationMessage)
ContactMessage = cast("type[_ContactMessageLike]", _messages.ContactMessage)
StickerMessage = cast("type[_AnyMessage]", _messages.StickerMessage)
VideoMessage = cast("type[_AnyMessage]", _messages.VideoMessage)
FileMessage = cast("type[_AnyMessage]", _messages.FileMessage)

# The message types ``viberbot.api.messages.get_message`` can build; it raises on any other.
SUPPORTED_MESSAGE_TYPES: frozenset[str] = frozenset(
    cast("dict[str, object]", _messages.MESSAGE_TYPE_TO_CLASS)
)
# The events ``create_request`` can build; it raises on any other.
SUPPORTED_EVENTS: frozenset[str] = frozenset(
    cast("dict[str, object]", _requests.EVENT_TYPE_TO_CLASS)
)


def create_request(callback: Mapping[str, Any]) -> ViberRequestLike:
    """viberbot's request object for a callback; ``ViberSdkError`` when it cannot build one.

    viberbot raises a bare ``Exception`` for an unknown event or message type and ``KeyError``
    / ``TypeError`` / ``AttributeError`` for a missing or mistyped field; all become
    ``ViberSdkError`` so the webhook can answer 400 rather than 500.
    """
    try:
        request = _requests.create_request(dict(callback))
    except Exception as exc:  # viberbot raises bare Exception, KeyError, TypeError...
        raise ViberSdkError(f"viberbot cannot parse the callback: {type(exc).__name__}") from exc
    return cast("ViberRequestLike", request)


# --- outgoing messages -----------------------------------------------------------------------


def _checked(message: Any) -> Json:
    """The message's JSON, once viberbot's ``validate()`` accepts it.

    ``None`` fields are dropped, as viberbot's ``MessageSender`` drops them before posting
    (``PictureMessage.to_dict`` always writes ``thumbnail``, for one).
    """
    if not message.validate():
        raise ViberSdkError(f"viberbot does not accept this {type(message).__name__}")
    data = cast("Json", message.to_dict())
    return {key: value for key, value in data.items() if value is not None}


def text_message(
    text: str, *, keyboard: Json | None = None, min_api_version: int | None = None
) -> Json:
    """A ``text`` message (``viberbot.api.messages.TextMessage``)."""
    return _checked(
        _messages.TextMessage(text=text, keyboard=keyboard, min_api_version=min_api_version)
    )


def picture_message(
    media: str, text: str, *, keyboard: Json | None = None, min_api_version: int | None = None
) -> Json:
    """A ``picture`` message (``PictureMessage``); ``media`` is a public URL."""
    return _checked(
        _messages.PictureMessage(
            media=media, text=text, keyboard=keyboard, min_api_version=min_api_version
        )
    )


def location_message(
    latitude: float,
    longitude: float,
    *,
    keyboard: Json | None = None,
    min_api_version: int | None = None,
) -> Json:
    """A ``location`` message (``LocationMessage``)."""
    location = _Location(lat=latitude, lon=longitude)
    return _checked(
        _messages.LocationMessage(
            location=location, keyboard=keyboard, min_api_version=min_api_version
        )
    )


def keyboard_message(keyboard: Json, *, min_api_version: int | None = None) -> Json:
    """A message that only shows a keyboard (``KeyboardMessage``: no ``type``)."""
    return _checked(_messages.KeyboardMessage(keyboard=keyboard, min_api_version=min_api_version))
