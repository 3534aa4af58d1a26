"""The Viber channel: signed webhook callbacks in, ``Incoming`` to the handlers, replies out.

``viberbot``, the official library, parses the callbacks (after our own validation) and builds
the outgoing messages; ``bot.viber.sdk`` is its typed edge. Its transport is not used: it sends
synchronously with ``requests`` and no timeout, so ``ViberClient`` sends with aiohttp; nor is
its signature check, which is not constant-time (``bot.viber.signature`` is).
"""

from bot.viber.callbacks import (
    BUTTON_PAYLOAD_PREFIX,
    ViberEvent,
    parse_callback,
    to_incoming,
    viber_user,
)
from bot.viber.channel import ViberChannel, ViberMessageApi
from bot.viber.client import VIBER_API_URL, ViberClient
from bot.viber.errors import ViberApiError, ViberCallbackError, ViberError, ViberRecipientBlocked
from bot.viber.render import MORE_PAYLOAD, split_text
from bot.viber.signature import SIGNATURE_HEADER, sign, verify
from bot.viber.status import ViberStatus, status_name
from bot.viber.webhook import VIBER_WEBHOOK, ViberWebhook, build_viber_app, setup_viber

__all__ = [
    "BUTTON_PAYLOAD_PREFIX",
    "MORE_PAYLOAD",
    "SIGNATURE_HEADER",
    "VIBER_API_URL",
    "VIBER_WEBHOOK",
    "ViberApiError",
    "ViberCallbackError",
    "ViberChannel",
    "ViberClient",
    "ViberError",
    "ViberEvent",
    "ViberMessageApi",
    "ViberRecipientBlocked",
    "ViberStatus",
    "ViberWebhook",
    "build_viber_app",
    "parse_callback",
    "setup_viber",
    "sign",
    "split_text",
    "status_name",
    "to_incoming",
    "verify",
    "viber_user",
]
