"""Update builders produce what Telegram sends: every one parses as an aiogram Update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.filters import Command, CommandObject
from aiogram.types import Update

from fakes.telegram_updates import (
    blocked_update,
    callback_update,
    contact_update,
    document_update,
    group_message_update,
    location_update,
    message_update,
    photo_update,
    sticker_update,
    video_update,
    voice_update,
)

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "message": lambda: message_update(42, "Не горить вуличне освітлення"),
    "command": lambda: message_update(42, "/start deep-link"),
    "reply": lambda: message_update(42, "так", reply_to=7, thread_id=None),
    "callback": lambda: callback_update(42, "v1:rate:5", message_id=3),
    "location": lambda: location_update(42, 47.9105, 33.3918, horizontal_accuracy=20.0),
    "contact": lambda: contact_update(42, "+380501234567"),
    "foreign_contact": lambda: contact_update(42, "+380671112233", contact_user_id=77),
    "card_contact": lambda: contact_update(42, "+380671112233", linked=False),
    "photo": lambda: photo_update(42, "AgACphoto", caption="Яма на дорозі"),
    "sticker": lambda: sticker_update(42),
    "voice": lambda: voice_update(42),
    "video": lambda: video_update(42),
    "document": lambda: document_update(42, caption="довідка"),
    "group": lambda: group_message_update(-1001234567890, 7, "беру", thread_id=12),
    "group_reply": lambda: group_message_update(
        -100200, 7, "/done@test_contact_bot", reply_to_message=5
    ),
    "blocked": lambda: blocked_update(42),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builders_parse_as_updates(name: str) -> None:
    update = Update.model_validate(BUILDERS[name]())

    assert update.event_type in {"message", "callback_query", "my_chat_member"}


def test_update_ids_increase() -> None:
    first, second = message_update(1, "a"), message_update(1, "b")

    assert second["update_id"] > first["update_id"]
    assert second["message"]["message_id"] > first["message"]["message_id"]


def test_contact_defaults_to_the_senders_own() -> None:
    own = contact_update(42, "+380501234567")["message"]
    foreign = contact_update(42, "+380501234567", contact_user_id=77)["message"]
    card = contact_update(42, "+380501234567", linked=False)["message"]

    assert own["contact"]["user_id"] == own["from"]["id"] == 42
    assert foreign["contact"]["user_id"] == 77
    assert "user_id" not in card["contact"]


def test_group_topic_message_shape() -> None:
    message = group_message_update(-1001234567890, 7, "беру", thread_id=12)["message"]

    assert message["chat"] == {
        "id": -1001234567890,
        "type": "supergroup",
        "title": "Staff",
        "is_forum": True,
    }
    assert (message["message_thread_id"], message["is_topic_message"]) == (12, True)


async def test_command_entity_is_seen_by_aiogram_command_filter() -> None:
    update = Update.model_validate(message_update(42, "/start deep-link"))
    assert update.message is not None
    bot = Bot("123456:TEST")
    try:
        result = await Command("start")(update.message, bot)
    finally:
        await bot.session.close()

    assert update.message.entities is not None
    assert update.message.entities[0].type == "bot_command"
    assert isinstance(result, dict)
    command = result["command"]
    assert isinstance(command, CommandObject)
    assert command.args == "deep-link"


def test_photo_sizes_end_with_the_given_file_id() -> None:
    sizes = photo_update(42, "AgACbig")["message"]["photo"]

    assert sizes[-1]["file_id"] == "AgACbig"
    assert sizes[0]["width"] < sizes[-1]["width"]
