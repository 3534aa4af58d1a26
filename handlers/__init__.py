"""The conversation, written once for every channel.

Not aiogram handlers: in most aiogram projects "handlers" means aiogram callbacks, here it means
the channel-neutral conversation. An ``Incoming`` goes in, a list of ``Reply`` comes out; nothing
here sends a message or imports aiogram, viberbot or aiohttp (a test enforces it). The
vocabulary it speaks (messages, buttons, payloads, texts, the channel port) lives in ``domain``;
the request lifecycle and the relay it drives live in ``services``. It never imports
``notifications`` (the delivery side) nor is imported by it: the layer check in
``tests/test_architecture.py`` enforces the order drawn in the README.
"""

from handlers.conversation import Conversation

__all__ = ["Conversation"]
