"""Bot API calls without files go as JSON; uploads stay multipart (both reach the fake API)."""

from __future__ import annotations

import json

from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.runtime import JsonBody, create_bot
from fakes.telegram_api import FakeTelegramServer

TOKEN = "123456:JSON-session"


async def test_a_message_is_sent_as_json_and_a_photo_as_multipart() -> None:
    async with FakeTelegramServer(token=TOKEN) as fake:
        fake.add_chat(42, first_name="Олена")
        bot = create_bot(TOKEN, fake.base_url)
        try:
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="Укриття", callback_data="v1:sec:a")]]
            )
            method = SendMessage(chat_id=42, text="Де <b>укриття</b>? ✓", reply_markup=markup)
            body = bot.session.build_form_data(bot, method)  # type: ignore[attr-defined]
            assert isinstance(body, JsonBody)
            payload = body()
            assert payload.content_type == "application/json"
            sent = json.loads(payload._value)
            assert sent["text"] == "Де <b>укриття</b>? ✓"
            assert sent["parse_mode"] == "HTML"  # the bot's default is filled in
            assert sent["chat_id"] == 42
            assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "v1:sec:a"

            await bot(method)
            photo = BufferedInputFile(b"\x89PNG\r\n\x1a\nchart", filename="chart.png")
            await bot.send_photo(42, photo, caption="Статистика")
            assert not isinstance(
                bot.session.build_form_data(bot, SendPhoto(chat_id=42, photo=photo)),  # type: ignore[attr-defined]
                JsonBody,
            )
        finally:
            await bot.session.close()
        message, picture = [call for call in fake.calls if call.method.startswith("send")]
        assert message.ok
        assert message.params["text"] == "Де <b>укриття</b>? ✓"
        assert message.button_data == ["v1:sec:a"]
        assert picture.ok
        assert picture.params["caption"] == "Статистика"
        assert picture.params["photo"].content.startswith(b"\x89PNG")
