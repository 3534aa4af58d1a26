"""The Telegram channel: aiogram 3 transport, rendering, residents' and staff chats."""

from bot.telegram.channel import TelegramChannel
from bot.telegram.runtime import create_bot, create_dispatcher, get_routers

__all__ = ["TelegramChannel", "create_bot", "create_dispatcher", "get_routers"]
