"""The conversation, written once for every channel.

Not aiogram handlers: in most aiogram projects "handlers" means aiogram callbacks, here it means
the channel-neutral conversation. An ``Incoming`` goes in, a list of ``Reply`` comes out; nothing
here sends a message or imports aiogram, viberbot or aiohttp (a test enforces it).
"""

from handlers.channel import (
    Channel,
    DeliveryError,
    PermanentFailure,
    RecipientBlocked,
    RetryAfter,
    Sent,
    TemporaryFailure,
)
from handlers.conversation import Conversation
from handlers.messages import (
    Button,
    ButtonKind,
    ChannelName,
    Contact,
    Incoming,
    Kind,
    Location,
    Photo,
    Reply,
    UserRef,
)
from handlers.texts import Texts

__all__ = [
    "Button",
    "ButtonKind",
    "Channel",
    "ChannelName",
    "Contact",
    "Conversation",
    "DeliveryError",
    "Incoming",
    "Kind",
    "Location",
    "PermanentFailure",
    "Photo",
    "RecipientBlocked",
    "Reply",
    "RetryAfter",
    "Sent",
    "TemporaryFailure",
    "Texts",
    "UserRef",
]
