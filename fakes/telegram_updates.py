"""Builders of Telegram update dicts shaped as the Bot API sends them; each parses as an Update.

Each builder returns a plain dict for ``FakeTelegramServer.push_update`` or
``aiogram.types.Update.model_validate``. Update ids and message ids come from process-wide
counters, so updates built one after another are in order; pass ``update_id`` to script a
redelivery and ``message_id`` to refer to a known message.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Final

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "blocked_update",
    "callback_update",
    "contact_update",
    "document_update",
    "group_message_update",
    "location_update",
    "message_update",
    "photo_update",
    "sticker_update",
    "user_dict",
    "video_update",
    "voice_update",
]

BOT_ID: Final = 123456
BOT_USERNAME: Final = "test_contact_bot"
_SUPERGROUP_ID_BELOW: Final = -1_000_000_000_000

_update_ids = itertools.count(1)
_message_ids = itertools.count(10_000)
_callback_ids = itertools.count(5_000_000_000_000_000_001)


def _utf16_len(text: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


def _now(date: int | None) -> int:
    return int(time.time()) if date is None else date


def user_dict(
    user_id: int,
    *,
    first_name: str = "Resident",
    language_code: str | None = "uk",
    username: str | None = None,
    last_name: str | None = None,
) -> dict[str, Any]:
    """A User (a person, not a bot)."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def _bot_dict(bot_id: int) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": "Contact Center (test)",
            "username": BOT_USERNAME}  # fmt: skip


def _private_chat(user: dict[str, Any]) -> dict[str, Any]:
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    return chat


def _group_chat(chat_id: int, chat_type: str | None, title: str, is_forum: bool) -> dict[str, Any]:
    kind = chat_type or ("supergroup" if chat_id <= _SUPERGROUP_ID_BELOW else "group")
    chat: dict[str, Any] = {"id": chat_id, "type": kind, "title": title}
    if is_forum:
        chat["is_forum"] = True
    return chat


def _command_entities(text: str) -> list[dict[str, Any]]:
    """Telegram marks a leading ``/command`` (with an optional ``@botname``) as bot_command."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


def _reply_dict(reply_to: int | dict[str, Any], chat: dict[str, Any], date: int) -> dict[str, Any]:
    if isinstance(reply_to, dict):
        return reply_to
    return {"message_id": reply_to, "date": date, "chat": chat, "text": "…"}


def _message(
    user_id: int,
    content: dict[str, Any],
    *,
    chat_id: int | None = None,
    update_id: int | None = None,
    first_name: str = "Resident",
    language_code: str | None = "uk",
    username: str | None = None,
    message_id: int | None = None,
    thread_id: int | None = None,
    reply_to: int | dict[str, Any] | None = None,
    date: int | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    sender = user_dict(
        user_id, first_name=first_name, language_code=language_code, username=username
    )
    when = _now(date)
    if chat is None:
        if chat_id is None or chat_id == user_id:
            chat = _private_chat(sender)
        else:
            chat = _group_chat(chat_id, None, f"Chat {chat_id}", is_forum=False)
    message: dict[str, Any] = {
        "message_id": next(_message_ids) if message_id is None else message_id,
        "from": sender,
        "chat": chat,
        "date": when,
    }
    if thread_id is not None:
        message["message_thread_id"] = thread_id
        if chat.get("is_forum"):
            message["is_topic_message"] = True
    if reply_to is not None:
        message["reply_to_message"] = _reply_dict(reply_to, chat, when)
    message.update(content)
    return {"update_id": next(_update_ids) if update_id is None else update_id, "message": message}


def message_update(
    user_id: int,
    text: str,
    *,
    chat_id: int | None = None,
    update_id: int | None = None,
    first_name: str = "Resident",
    language_code: str | None = "uk",
    username: str | None = None,
    message_id: int | None = None,
    thread_id: int | None = None,
    reply_to: int | dict[str, Any] | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A text message from a resident (private chat unless ``chat_id`` names another chat).

    A leading ``/command`` gets its ``bot_command`` entity. ``reply_to`` is a message id or a
    full message dict.
    """
    content: dict[str, Any] = {"text": text}
    if entities := _command_entities(text):
        content["entities"] = entities
    return _message(
        user_id,
        content,
        chat_id=chat_id,
        update_id=update_id,
        first_name=first_name,
        language_code=language_code,
        username=username,
        message_id=message_id,
        thread_id=thread_id,
        reply_to=reply_to,
        date=date,
    )


def group_message_update(
    chat_id: int,
    user_id: int,
    text: str,
    thread_id: int | None = None,
    reply_to_message: dict[str, Any] | int | None = None,
    *,
    chat_type: str | None = None,
    title: str = "Staff",
    is_forum: bool | None = None,
    update_id: int | None = None,
    first_name: str = "Operator",
    username: str | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A text message in a group or supergroup (a forum one when ``thread_id`` is given)."""
    forum = thread_id is not None if is_forum is None else is_forum
    chat = _group_chat(chat_id, chat_type or ("supergroup" if forum else None), title, forum)
    content: dict[str, Any] = {"text": text}
    if entities := _command_entities(text):
        content["entities"] = entities
    return _message(
        user_id,
        content,
        update_id=update_id,
        first_name=first_name,
        username=username,
        message_id=message_id,
        thread_id=thread_id,
        reply_to=reply_to_message,
        date=date,
        chat=chat,
    )


def callback_update(
    user_id: int,
    data: str,
    *,
    message_id: int = 1,
    chat_id: int | None = None,
    message_text: str = "…",
    reply_markup: dict[str, Any] | None = None,
    query_id: str | None = None,
    update_id: int | None = None,
    first_name: str = "Resident",
    language_code: str | None = "uk",
    bot_id: int = BOT_ID,
    date: int | None = None,
) -> dict[str, Any]:
    """A press of an inline button with ``data`` under the bot's message ``message_id``.

    ``FakeTelegramServer.press_button`` builds the same from a message the bot really sent.
    """
    sender = user_dict(user_id, first_name=first_name, language_code=language_code)
    if chat_id is None or chat_id == user_id:
        chat = _private_chat(sender)
    else:
        chat = _group_chat(chat_id, None, f"Chat {chat_id}", is_forum=False)
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": _bot_dict(bot_id),
        "chat": chat,
        "date": _now(date),
        "text": message_text,
    }
    if reply_markup is not None:
        message["reply_markup"] = reply_markup
    query = {
        "id": str(next(_callback_ids)) if query_id is None else query_id,
        "from": sender,
        "message": message,
        "chat_instance": str(abs(chat["id"]) * 7919 % 10**18),
        "data": data,
    }
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "callback_query": query,
    }


def location_update(
    user_id: int,
    lat: float,
    lon: float,
    *,
    horizontal_accuracy: float | None = None,
    live_period: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A shared location (``live_period`` makes it a live location)."""
    location: dict[str, Any] = {"latitude": lat, "longitude": lon}
    if horizontal_accuracy is not None:
        location["horizontal_accuracy"] = horizontal_accuracy
    if live_period is not None:
        location["live_period"] = live_period
    return _message(user_id, {"location": location}, **kwargs)


def contact_update(
    user_id: int,
    phone: str,
    *,
    contact_user_id: int | None = None,
    linked: bool = True,
    first_name: str = "Resident",
    **kwargs: Any,
) -> dict[str, Any]:
    """A shared contact. By default it is the sender's own (what a ``request_contact`` button
    sends: ``contact.user_id == from.id``); pass ``contact_user_id`` for someone else's contact
    and ``linked=False`` for a card with no Telegram account."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name}
    if linked:
        contact["user_id"] = user_id if contact_user_id is None else contact_user_id
    return _message(user_id, {"contact": contact}, first_name=first_name, **kwargs)


def _file(file_id: str, **fields: Any) -> dict[str, Any]:
    return {"file_id": file_id, "file_unique_id": "AQAD" + file_id[-12:], **fields}


def _with_caption(content: dict[str, Any], caption: str | None) -> dict[str, Any]:
    if caption is not None:
        content["caption"] = caption
    return content


def photo_update(
    user_id: int, file_id: str = "AgACAgIAAxkBAAIBphoto", caption: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A photo; its largest size (last in the list) has ``file_id``."""
    sizes = [
        _file(f"{file_id}-s", width=90, height=68, file_size=1_200),
        _file(f"{file_id}-m", width=320, height=240, file_size=15_000),
        _file(file_id, width=1280, height=960, file_size=120_000),
    ]
    return _message(user_id, _with_caption({"photo": sizes}, caption), **kwargs)


def sticker_update(
    user_id: int, file_id: str = "CAACAgIAAxkBAAIBsticker", emoji: str = "👍", **kwargs: Any
) -> dict[str, Any]:
    """A regular sticker."""
    sticker = _file(
        file_id, type="regular", width=512, height=512, is_animated=False, is_video=False,
        emoji=emoji, file_size=20_000,
    )  # fmt: skip
    return _message(user_id, {"sticker": sticker}, **kwargs)


def voice_update(
    user_id: int, file_id: str = "AwACAgIAAxkBAAIBvoice", duration: int = 3, **kwargs: Any
) -> dict[str, Any]:
    """A voice message."""
    voice = _file(file_id, duration=duration, mime_type="audio/ogg", file_size=8_000)
    return _message(user_id, {"voice": voice}, **kwargs)


def video_update(
    user_id: int,
    file_id: str = "BAACAgIAAxkBAAIBvideo",
    duration: int = 5,
    caption: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A video."""
    video = _file(
        file_id, width=1280, height=720, duration=duration, mime_type="video/mp4",
        file_size=900_000,
    )  # fmt: skip
    return _message(user_id, _with_caption({"video": video}, caption), **kwargs)


def document_update(
    user_id: int,
    file_id: str = "BQACAgIAAxkBAAIBdocument",
    file_name: str = "scan.pdf",
    mime_type: str = "application/pdf",
    caption: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A document (a file sent as a file)."""
    document = _file(file_id, file_name=file_name, mime_type=mime_type, file_size=64_000)
    return _message(user_id, _with_caption({"document": document}, caption), **kwargs)


def blocked_update(
    user_id: int,
    *,
    update_id: int | None = None,
    first_name: str = "Resident",
    bot_id: int = BOT_ID,
    date: int | None = None,
) -> dict[str, Any]:
    """The ``my_chat_member`` update Telegram sends when a user blocks the bot."""
    sender = user_dict(user_id, first_name=first_name)
    bot = _bot_dict(bot_id)
    when = _now(date)
    change = {
        "chat": _private_chat(sender),
        "from": sender,
        "date": when,
        "old_chat_member": {"status": "member", "user": bot},
        "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0},
    }
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "my_chat_member": change,
    }
