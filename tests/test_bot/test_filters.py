"""The async router filters that replace aiogram magic filters on the hot path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import CallbackQuery, Chat, Message, User

from bot.telegram.filters import CommandText, InChats, PayloadAction, PrivateChat

PERSON = User(id=7, is_bot=False, first_name="Олена")


def message(chat_id: int, chat_type: str, text: str | None = "привіт") -> Message:
    return Message(
        message_id=1,
        date=datetime(2026, 12, 4, tzinfo=UTC),
        chat=Chat(id=chat_id, type=chat_type),
        from_user=PERSON,
        text=text,
    )


def press(data: str | None, under: Message | None) -> CallbackQuery:
    fields: dict[str, Any] = {"id": "q1", "from_user": PERSON, "chat_instance": "ci", "data": data}
    if under is not None:
        fields["message"] = under
    return CallbackQuery(**fields)


async def test_private_chat_filter() -> None:
    private = PrivateChat()
    assert await private(message(7, "private"))
    assert not await private(message(-100, "supergroup"))
    assert await private(press("v1:menu", message(7, "private")))
    assert not await private(press("v1:menu", message(-100, "group")))
    assert not await private(press("v1:menu", None))  # an inline message's button


async def test_in_chats_filter() -> None:
    staff = InChats([-100, -200])
    assert await staff(message(-200, "supergroup"))
    assert not await staff(message(7, "private"))
    assert await staff(press("v1:st:1", message(-100, "supergroup")))
    assert not await staff(press("v1:st:1", None))


async def test_command_and_payload_filters() -> None:
    assert await CommandText()(message(7, "private", "/stats week"))
    assert not await CommandText()(message(7, "private", "де укриття /stats"))
    assert not await CommandText()(message(7, "private", None))
    retry = PayloadAction("obx")
    assert await retry(press("v1:obx:3", None)) == {"args": ("3",)}
    assert not await retry(press("v1:menu", None))
    assert not await retry(press(None, None))
    assert not await retry(press("v1:obx:<b>", None))  # does not parse: stale or forged


async def test_payload_action_with_a_number() -> None:
    status = PayloadAction("st", number="request_id")
    assert await status(press("v1:st:12:done", None)) == {"request_id": 12, "args": ("done",)}
    assert not await status(press("v1:st:abc:done", None))
    assert not await status(press("v1:asg:12", None))


async def test_cancel_is_read_from_a_text_or_a_photo_caption_in_any_case() -> None:
    from bot.telegram.prompts import CANCEL  # noqa: PLC0415 - the staff side's filter

    assert await CANCEL(message(-100, "supergroup", "/cancel"))
    assert await CANCEL(message(-100, "supergroup", "/Cancel@city1520_bot причина"))
    photo = message(-100, "supergroup", None).model_copy(update={"caption": "/cancel"})
    assert await CANCEL(photo)
    assert not await CANCEL(message(-100, "supergroup", "/cancelled"))
    assert not await CANCEL(message(-100, "supergroup", "cancel"))
    assert not await CANCEL(message(-100, "supergroup", None))
