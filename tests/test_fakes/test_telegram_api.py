"""The fake Bot API answers a real aiogram Bot over real HTTP the way Telegram does."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
    TelegramObject,
)
from aiogram.utils.text_decorations import html_decoration
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from fakes.telegram_api import (
    FakeTelegramServer,
    RateLimits,
    RecordedCall,
    UploadedFile,
    method_is,
    sent_to,
)
from fakes.telegram_updates import (
    callback_update,
    group_message_update,
    message_update,
    photo_update,
)

RESIDENT = 42
STAFF_CHAT = -1001234567890


def make_bot(server: FakeTelegramServer, *, token: str | None = None, timeout: float = 60) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url), timeout=timeout)
    return Bot(token or server.token, session=session)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in pairs
        ]
    )


def dump(model: TelegramObject | None) -> dict[str, Any] | None:
    """Compare aiogram objects by content (they also carry the bot they came from)."""
    return None if model is None else model.model_dump(exclude_none=True)


class ManualMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    bot = make_bot(server)
    try:
        yield bot
    finally:
        await bot.session.close()


# -- basics ------------------------------------------------------------------------------------


async def test_get_me_returns_the_configured_bot(server: FakeTelegramServer, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (server.bot_id, server.bot_username, True)
    assert server.calls[-1].method == "getMe"
    assert server.calls[-1].ok


async def test_wrong_token_is_unauthorized(server: FakeTelegramServer) -> None:
    intruder = make_bot(server, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert server.calls[-1].status == 401


async def test_unknown_method_is_404_shaped_like_telegram(server: FakeTelegramServer) -> None:
    url = f"{server.base_url}/bot{server.token}/sendTelepathy"
    async with aiohttp.ClientSession() as client, client.post(url, data={"x": "1"}) as response:
        body = await response.json()

    assert response.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    assert server.calls[-1].method == "sendTelepathy"


async def test_method_names_are_case_insensitive(server: FakeTelegramServer) -> None:
    url = f"{server.base_url}/bot{server.token}/GETME"
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        body = await response.json()

    assert body["ok"] is True
    assert server.calls[-1].method == "getMe"


async def test_json_bodies_and_query_strings_are_decoded(server: FakeTelegramServer) -> None:
    markup = {"inline_keyboard": [[{"text": "Так", "callback_data": "v1:yes"}]]}
    url = f"{server.base_url}/bot{server.token}/sendMessage"
    async with aiohttp.ClientSession() as client:
        body = {"chat_id": RESIDENT, "text": "12", "reply_markup": markup}
        async with client.post(url, json=body) as response:
            assert response.status == 200
        async with client.get(url, params={"chat_id": str(RESIDENT), "text": "true"}) as response:
            assert response.status == 200

    first, second = server.sent_messages(RESIDENT)
    assert first.params == {"chat_id": RESIDENT, "text": "12", "reply_markup": markup}
    assert second.params == {"chat_id": RESIDENT, "text": "true"}


# -- sending -----------------------------------------------------------------------------------


async def test_send_message_records_decoded_params_and_echoes_markup(
    server: FakeTelegramServer, bot: Bot
) -> None:
    markup = keyboard(("Так", "v1:yes"), ("Ні", "v1:no"))

    first = await bot.send_message(RESIDENT, "Заявку прийнято", reply_markup=markup)
    second = await bot.send_message(RESIDENT, "Ще одне", disable_notification=True)

    call = server.sent_messages(RESIDENT)[0]
    assert call.params["chat_id"] == RESIDENT
    assert call.params["text"] == "Заявку прийнято"
    assert call.reply_markup == {
        "inline_keyboard": [
            [{"text": "Так", "callback_data": "v1:yes"}],
            [{"text": "Ні", "callback_data": "v1:no"}],
        ]
    }
    assert call.button_data == ["v1:yes", "v1:no"]
    assert server.sent_messages(RESIDENT)[1].params["disable_notification"] is True
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.type == "private"
    assert first.from_user is not None
    assert first.from_user.id == server.bot_id
    assert dump(first.reply_markup) == dump(markup)
    assert second.reply_markup is None


async def test_message_ids_increment_per_chat(bot: Bot) -> None:
    a1 = await bot.send_message(1, "a")
    b1 = await bot.send_message(2, "b")
    a2 = await bot.send_message(1, "c")

    assert (a1.message_id, b1.message_id, a2.message_id) == (1, 1, 2)


async def test_too_long_text_is_a_bad_request_and_not_sent(
    server: FakeTelegramServer, bot: Bot
) -> None:
    await bot.send_message(RESIDENT, "я" * 4096)

    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(RESIDENT, "я" * 4097)

    assert len(server.sent_messages(RESIDENT)) == 1
    assert server.calls[-1].status == 400


async def test_empty_text_is_a_bad_request(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(RESIDENT, "   ")


async def test_malformed_html_is_a_bad_request(server: FakeTelegramServer, bot: Bot) -> None:
    user_text = "Тиск <3 атм, а має бути > 5 & <b>"

    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(RESIDENT, f"<b>Звернення:</b> {user_text}", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(RESIDENT, "рядок<br>рядок", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Can't find end tag"):
        await bot.send_message(RESIDENT, "<b>незакритий", parse_mode="HTML")

    escaped = f"<b>Звернення:</b> {html_decoration.quote(user_text)}"
    sent = await bot.send_message(RESIDENT, escaped, parse_mode="HTML")

    assert sent.text == f"Звернення: {user_text}"
    assert sent.entities is not None
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 10)]
    assert len(server.sent_messages()) == 1


async def test_html_length_is_counted_after_parsing(bot: Bot) -> None:
    sent = await bot.send_message(RESIDENT, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")

    assert sent.text == "x" * 4096


async def test_long_callback_data_is_button_data_invalid(bot: Bot) -> None:
    await bot.send_message(RESIDENT, "ok", reply_markup=keyboard(("a", "ї" * 32)))  # 64 bytes

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(RESIDENT, "x", reply_markup=keyboard(("a", "ї" * 32 + "1")))


async def test_text_only_inline_button_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="just text")]])

    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(RESIDENT, "x", reply_markup=markup)


async def test_long_caption_is_a_bad_request(bot: Bot) -> None:
    photo = BufferedInputFile(b"\x89PNG fake", filename="map.png")

    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(RESIDENT, photo, caption="c" * 1025)


async def test_uploaded_photo_is_recorded_as_bytes_and_downloadable(
    server: FakeTelegramServer, bot: Bot
) -> None:
    photo = BufferedInputFile(b"\x89PNG fake image", filename="shelters.png")

    sent = await bot.send_photo(RESIDENT, photo, caption="<i>Укриття</i>", parse_mode="HTML")

    uploaded = server.sent_messages(RESIDENT)[0].params["photo"]
    assert uploaded == UploadedFile(
        "shelters.png", b"\x89PNG fake image", "application/octet-stream"
    )
    assert sent.photo is not None
    assert sent.caption == "Укриття"
    largest = sent.photo[-1]
    file = await bot.get_file(largest.file_id)
    assert file.file_path is not None
    buffer = io.BytesIO()
    await bot.download_file(file.file_path, buffer)
    assert buffer.getvalue() == b"\x89PNG fake image"
    again = await bot.send_photo(RESIDENT, largest.file_id)
    assert again.photo is not None
    assert again.photo[-1].file_id == largest.file_id


async def test_unknown_file_id_is_refused(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(RESIDENT, "AgACnever-seen")


async def test_document_location_and_media_group(server: FakeTelegramServer, bot: Bot) -> None:
    document = await bot.send_document(
        RESIDENT, BufferedInputFile(b"%PDF-1.4", filename="certificate.pdf")
    )
    location = await bot.send_location(RESIDENT, latitude=47.91, longitude=33.39)
    server.push_update(photo_update(RESIDENT, "AgACresident-photo"))
    album = await bot.send_media_group(
        RESIDENT,
        [
            InputMediaPhoto(media=BufferedInputFile(b"one", filename="1.jpg"), caption="перше"),
            InputMediaPhoto(media="AgACresident-photo"),
        ],
    )

    assert document.document is not None
    assert document.document.file_name == "certificate.pdf"
    assert document.document.mime_type == "application/pdf"
    assert location.location is not None
    assert (location.location.latitude, location.location.longitude) == (47.91, 33.39)
    assert len(album) == 2
    assert album[0].media_group_id == album[1].media_group_id is not None
    assert album[0].caption == "перше"
    media = server.sent_messages(RESIDENT)[-1].params["media"]
    assert media[0]["media"] == UploadedFile("1.jpg", b"one", "application/octet-stream")
    assert media[1]["media"] == "AgACresident-photo"
    assert [c.method for c in server.sent_messages(RESIDENT)] == [
        "sendDocument",
        "sendLocation",
        "sendMediaGroup",
    ]


async def test_reply_to_unknown_message_is_refused(server: FakeTelegramServer, bot: Bot) -> None:
    server.push_update(message_update(RESIDENT, "Привіт", message_id=500))

    reply = await bot.send_message(
        RESIDENT, "Вітаю", reply_parameters=ReplyParameters(message_id=500)
    )
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(RESIDENT, "?", reply_parameters=ReplyParameters(message_id=9999))

    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "Привіт"
    assert reply.message_id == 501


async def test_copy_and_forward_a_pushed_message(server: FakeTelegramServer, bot: Bot) -> None:
    server.push_update(message_update(RESIDENT, "Не працює ліфт", message_id=77))

    copied = await bot.copy_message(STAFF_CHAT, from_chat_id=RESIDENT, message_id=77)
    forwarded = await bot.forward_message(STAFF_CHAT, from_chat_id=RESIDENT, message_id=77)
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(STAFF_CHAT, from_chat_id=RESIDENT, message_id=78)

    assert server.message(STAFF_CHAT, copied.message_id) is not None
    assert forwarded.text == "Не працює ліфт"
    assert forwarded.forward_origin is not None
    assert forwarded.forward_origin.type == "user"
    assert [c.method for c in server.sent_messages(STAFF_CHAT)] == ["copyMessage", "forwardMessage"]


async def test_blocked_user_gets_forbidden(server: FakeTelegramServer, bot: Bot) -> None:
    server.block(RESIDENT)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(RESIDENT, "Статус заявки змінено")
    assert server.sent_messages() == []


async def test_require_known_chats_refuses_strangers() -> None:
    async with FakeTelegramServer(require_known_chats=True) as server:
        bot = make_bot(server)
        try:
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(RESIDENT, "hi")
            server.push_update(message_update(RESIDENT, "/start"))
            await bot.send_message(RESIDENT, "hi")
        finally:
            await bot.session.close()


# -- editing and callbacks ---------------------------------------------------------------------


async def test_edits_follow_telegram_rules(server: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(RESIDENT, "Оцініть", reply_markup=keyboard(("5", "v1:rate:5")))

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Оцініть",
            chat_id=RESIDENT,
            message_id=sent.message_id,
            reply_markup=keyboard(("5", "v1:rate:5")),
        )
    edited = await bot.edit_message_text("Дякуємо!", chat_id=RESIDENT, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=RESIDENT, message_id=999)

    assert isinstance(edited, Message)
    assert edited.text == "Дякуємо!"
    assert edited.reply_markup is None  # editing text without markup removes the keyboard
    assert edited.edit_date is not None
    stored = server.message(RESIDENT, sent.message_id)
    assert stored is not None
    assert stored["text"] == "Дякуємо!"


async def test_edit_reply_markup_and_delete(server: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(RESIDENT, "Оберіть", reply_markup=keyboard(("A", "a")))

    edited = await bot.edit_message_reply_markup(
        chat_id=RESIDENT, message_id=sent.message_id, reply_markup=keyboard(("B", "b"))
    )
    assert await bot.delete_message(RESIDENT, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(RESIDENT, sent.message_id)

    assert isinstance(edited, Message)
    assert dump(edited.reply_markup) == dump(keyboard(("B", "b")))
    assert server.message(RESIDENT, sent.message_id) is None


async def test_user_messages_cannot_be_edited(server: FakeTelegramServer, bot: Bot) -> None:
    server.push_update(message_update(RESIDENT, "мій текст", message_id=300))

    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("чужий", chat_id=RESIDENT, message_id=300)


async def test_callback_query_can_be_answered_once(server: FakeTelegramServer, bot: Bot) -> None:
    sent = await bot.send_message(RESIDENT, "?", reply_markup=keyboard(("Так", "v1:yes")))
    server.press_button(RESIDENT, sent.message_id, data="v1:yes")
    updates = await bot.get_updates()
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "v1:yes"

    assert await bot.answer_callback_query(query.id, text="Прийнято") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(AssertionError, match="no callback button"):
        server.press_button(RESIDENT, sent.message_id, data="v1:maybe")


async def test_an_observed_update_is_known_but_not_delivered(
    server: FakeTelegramServer, bot: Bot
) -> None:
    """What a test posts to a webhook itself: its callback query may be answered, no poll gets
    it."""
    update = callback_update(RESIDENT, "v1:yes", query_id="777")
    server.observe_update(update)
    assert server.pending_updates == []
    assert await bot.answer_callback_query("777") is True


# -- members, topics, commands -----------------------------------------------------------------


async def test_chat_membership_is_configurable(server: FakeTelegramServer, bot: Bot) -> None:
    server.chat_members[(STAFF_CHAT, 7)] = "member"
    server.chat_members[(STAFF_CHAT, 8)] = "administrator"
    server.chat_members[(STAFF_CHAT, 9)] = "kicked"

    statuses = [(await bot.get_chat_member(STAFF_CHAT, uid)).status for uid in (7, 8, 9, 10)]
    admins = await bot.get_chat_administrators(STAFF_CHAT)
    chat = await bot.get_chat(STAFF_CHAT)

    assert statuses == ["member", "administrator", "kicked", "left"]
    assert sorted(a.user.id for a in admins) == [8, server.bot_id]
    assert chat.type == "supergroup"


async def test_forum_topics(server: FakeTelegramServer, bot: Bot) -> None:
    server.add_chat(STAFF_CHAT, type="supergroup", title="Оператори 1520", is_forum=True)

    first = await bot.create_forum_topic(STAFF_CHAT, "Заявка #1")
    second = await bot.create_forum_topic(STAFF_CHAT, "Заявка #2")
    in_topic = await bot.send_message(
        STAFF_CHAT, "Нова заявка", message_thread_id=first.message_thread_id
    )
    await bot.close_forum_topic(STAFF_CHAT, first.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(STAFF_CHAT, "ще", message_thread_id=first.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(STAFF_CHAT, "ще", message_thread_id=9999)
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(-100555, "x")

    assert second.message_thread_id > first.message_thread_id
    assert in_topic.message_thread_id == first.message_thread_id
    assert in_topic.is_topic_message is True


async def test_set_my_commands_validates_names(server: FakeTelegramServer, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Почати")])

    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="Почати")])

    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert server.commands[("default", "")] == [{"command": "start", "description": "Почати"}]


async def test_chat_action_is_accepted(bot: Bot) -> None:
    assert await bot.send_chat_action(RESIDENT, "typing") is True


# -- faults ------------------------------------------------------------------------------------


async def test_429_fault_raises_retry_after_and_delivers_nothing(
    server: FakeTelegramServer, bot: Bot
) -> None:
    fault = server.faults.add(method="sendMessage", kind="429", retry_after=2, times=1)

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(RESIDENT, "Статус: виконано")
    await bot.send_message(RESIDENT, "Статус: виконано")

    assert raised.value.retry_after == 2
    assert fault.hits == 1
    assert fault.exhausted
    faulted = server.calls[-2]
    assert (faulted.status, faulted.fault) == (429, "429")
    assert faulted.response["parameters"] == {"retry_after": 2}
    assert len(server.sent_messages(RESIDENT)) == 1


async def test_403_fault_raises_forbidden(server: FakeTelegramServer, bot: Bot) -> None:
    server.faults.add(kind="403", chat_id=RESIDENT)

    await bot.send_message(RESIDENT + 1, "інший чат не зачеплено")
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(RESIDENT, "x")


async def test_server_errors_and_html_gateway_page(server: FakeTelegramServer, bot: Bot) -> None:
    server.faults.add(kind="500", method="sendMessage")
    server.faults.add(kind="html502", method="sendMessage")
    server.faults.add(kind="400", method="sendMessage", description="Bad Request: chat not found")

    with pytest.raises(TelegramServerError):
        await bot.send_message(RESIDENT, "x")
    with pytest.raises(ClientDecodeError):  # nginx's HTML page is not JSON
        await bot.send_message(RESIDENT, "x")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(RESIDENT, "x")

    assert server.sent_messages() == []
    assert [c.fault for c in server.calls] == ["500", "html502", "400"]


async def test_disconnect_fault_is_a_network_error(server: FakeTelegramServer, bot: Bot) -> None:
    server.faults.add(kind="disconnect", method="sendMessage")

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(RESIDENT, "x")

    assert server.sent_messages() == []


async def test_timeout_fault_delivers_but_the_client_times_out(server: FakeTelegramServer) -> None:
    server.faults.add(kind="timeout", method="sendMessage", delay=30)
    impatient = make_bot(server, timeout=1)
    try:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await impatient.send_message(RESIDENT, "Ваша заявка виконана")
    finally:
        await impatient.session.close()

    delivered = server.sent_messages(RESIDENT)
    assert [c.fault for c in delivered] == ["timeout"]
    assert server.message(RESIDENT, 1) is not None


async def test_a_held_answer_comes_when_the_fault_is_released(
    server: FakeTelegramServer, bot: Bot
) -> None:
    released = asyncio.Event()
    server.faults.add(kind="timeout", method="sendMessage", delay=30, release=released)
    sending = asyncio.create_task(bot.send_message(RESIDENT, "Ваша заявка виконана"))
    [delivered] = await server.wait_for(method_is("sendMessage"))  # at once
    assert delivered.fault == "timeout"
    await asyncio.sleep(0.1)
    assert not sending.done()  # the answer is held
    released.set()
    sent = await asyncio.wait_for(sending, 5)
    assert sent.message_id == delivered.result["message_id"]


async def test_timeout_fault_without_apply_delivers_nothing(server: FakeTelegramServer) -> None:
    server.faults.add(kind="timeout", method="sendMessage", delay=30, apply=False)
    impatient = make_bot(server, timeout=1)
    try:
        with pytest.raises(TelegramNetworkError):
            await impatient.send_message(RESIDENT, "x")
    finally:
        await impatient.session.close()

    assert server.sent_messages() == []
    assert server.calls[-1].fault == "timeout"


async def test_random_faults_are_reproducible(server: FakeTelegramServer, bot: Bot) -> None:
    async def outcomes(seed: int) -> list[int]:
        server.faults.random(rate=0.5, kinds=("500",), seed=seed)
        start = len(server.calls)
        for _ in range(12):
            with contextlib.suppress(TelegramServerError):
                await bot.send_message(RESIDENT, "x")
        await bot.get_me()  # plumbing methods are never faulted by default
        return [c.status for c in server.calls[start:]]

    first, second = await outcomes(7), await outcomes(7)

    assert first == second
    assert 500 in first
    assert 200 in first[:-1]
    assert first[-1] == 200


def test_fault_plan_refuses_nonsense() -> None:
    server = FakeTelegramServer()

    with pytest.raises(ValueError, match="unknown fault kind"):
        server.faults.add(kind="418")  # type: ignore[arg-type]  # deliberately invalid
    with pytest.raises(ValueError, match="cannot apply"):
        server.faults.add(kind="500", apply=True)


# -- rate limits -------------------------------------------------------------------------------


async def test_per_chat_limit_refuses_a_second_send_within_the_window() -> None:
    clock = ManualMonotonic()
    async with FakeTelegramServer(limits=RateLimits(), monotonic=clock) as server:
        bot = make_bot(server)
        try:
            await bot.send_message(RESIDENT, "1")
            clock.now += 0.5
            with pytest.raises(TelegramRetryAfter) as raised:
                await bot.send_message(RESIDENT, "2")
            await bot.send_message(RESIDENT + 1, "other chat is fine")
            clock.now += 0.5  # exactly one window after the first send
            await bot.send_message(RESIDENT, "3")
        finally:
            await bot.session.close()

    assert raised.value.retry_after == 1
    assert len(server.violations) == 1
    assert "per-chat" in server.violations[0]
    assert [c.params["text"] for c in server.sent_messages(RESIDENT)] == ["1", "3"]


async def test_spaced_sends_pass_and_slack_tolerates_early_ones() -> None:
    clock = ManualMonotonic()
    async with FakeTelegramServer(limits=RateLimits(slack=0.1), monotonic=clock) as server:
        bot = make_bot(server)
        try:
            for _ in range(5):
                await bot.send_message(RESIDENT, "tick")
                clock.now += 0.95  # early for a 1 s window, fine for 1 s * (1 - 0.1)
        finally:
            await bot.session.close()

    assert server.violations == []
    assert len(server.sent_messages(RESIDENT)) == 5


async def test_group_and_total_limits() -> None:
    clock = ManualMonotonic()
    limits = RateLimits(per_second_total=3, per_group_per_minute=2, group_window=10.0)
    async with FakeTelegramServer(limits=limits, monotonic=clock) as server:
        bot = make_bot(server)
        try:
            for chat in (1, 2, 3):
                await bot.send_message(chat, "x")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(4, "fourth in one second")
            clock.now += 1
            await bot.send_message(STAFF_CHAT, "g1")
            clock.now += 1
            await bot.send_message(STAFF_CHAT, "g2")
            clock.now += 1
            with pytest.raises(TelegramRetryAfter) as raised:
                await bot.send_message(STAFF_CHAT, "g3")
        finally:
            await bot.session.close()

    assert raised.value.retry_after == 8  # g1 leaves the 10 s window 8 s from now
    assert ["total" in v for v in server.violations] == [True, False]
    assert "group" in server.violations[1]


async def test_observe_mode_records_violations_without_refusing() -> None:
    async with FakeTelegramServer(limits=RateLimits(enforce=False)) as server:
        bot = make_bot(server)
        try:
            await bot.send_message(RESIDENT, "1")
            await bot.send_message(RESIDENT, "2")  # back to back, well within one second
        finally:
            await bot.session.close()

    assert len(server.sent_messages(RESIDENT)) == 2
    assert len(server.violations) == 1


async def test_real_clock_burst_to_one_chat_gets_429() -> None:
    async with FakeTelegramServer(limits=RateLimits(chat_window=30.0)) as server:
        bot = make_bot(server)
        try:
            await bot.send_message(RESIDENT, "1")
            with pytest.raises(TelegramRetryAfter) as raised:
                await bot.send_message(RESIDENT, "2")
        finally:
            await bot.session.close()

    assert 1 <= raised.value.retry_after <= 30
    assert server.calls[-1].status == 429


# -- updates -----------------------------------------------------------------------------------


async def test_get_updates_honours_offset(server: FakeTelegramServer, bot: Bot) -> None:
    first = server.push_update(message_update(RESIDENT, "/start"))
    second = server.push_update(message_update(RESIDENT, "Привіт"))

    updates = await bot.get_updates(timeout=0)
    again = await bot.get_updates(timeout=0)  # not confirmed yet: delivered again
    confirmed = await bot.get_updates(offset=second + 1, timeout=0)

    assert [u.update_id for u in updates] == [first, second]
    assert [u.update_id for u in again] == [first, second]
    assert confirmed == []
    assert server.pending_updates == []


async def test_push_update_assigns_missing_ids(server: FakeTelegramServer) -> None:
    explicit = server.push_update(message_update(RESIDENT, "a", update_id=500))
    assigned = server.push_update(
        {"message": message_update(RESIDENT, "b")["message"]}, validate=True
    )

    assert (explicit, assigned) == (500, 501)


async def test_long_poll_returns_when_an_update_is_pushed(
    server: FakeTelegramServer, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)  # let the poll reach the server; if it is slower, it still passes
    pushed = server.push_update(message_update(RESIDENT, "Є світло?"))

    updates = await asyncio.wait_for(poll, timeout=10)  # far less than the 20 s poll

    assert [u.update_id for u in updates] == [pushed]


async def test_limit_and_allowed_updates(server: FakeTelegramServer, bot: Bot) -> None:
    ids = [server.push_update(message_update(RESIDENT, str(n))) for n in range(3)]
    sent = await bot.send_message(RESIDENT, "?", reply_markup=keyboard(("Так", "yes")))
    callback = server.press_button(RESIDENT, sent.message_id, data="yes")

    limited = await bot.get_updates(limit=2, timeout=0)
    only_callbacks = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])

    assert [u.update_id for u in limited] == ids[:2]
    assert [u.update_id for u in only_callbacks] == [callback]


async def test_second_poller_terminates_the_first(server: FakeTelegramServer) -> None:
    first_bot, second_bot = make_bot(server), make_bot(server)
    try:
        first = asyncio.create_task(first_bot.get_updates(timeout=20))
        await asyncio.sleep(0.2)
        second = asyncio.create_task(second_bot.get_updates(timeout=0))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await asyncio.wait_for(first, timeout=10)
        assert await second == []
    finally:
        await first_bot.session.close()
        await second_bot.session.close()


async def test_redelivered_update_is_delivered_again(server: FakeTelegramServer, bot: Bot) -> None:
    update = message_update(RESIDENT, "Дубль")
    server.push_update(update)
    first = await bot.get_updates(timeout=0)
    await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)

    server.push_update(update)
    again = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)

    assert [u.update_id for u in again] == [first[-1].update_id]


async def test_wait_for_times_out_with_a_dump(server: FakeTelegramServer, bot: Bot) -> None:
    await bot.send_message(RESIDENT, "щось")

    with pytest.raises(AssertionError, match=r"(?s)expected 1 matching.*sendMessage"):
        await server.wait_for(sent_to(RESIDENT + 1), timeout=0.2)


# -- a real dispatcher -------------------------------------------------------------------------


def start_router() -> Router:
    router = Router(name="test-start")

    @router.message(CommandStart())
    async def on_start(message: Message) -> None:
        await message.answer(
            "Вітаємо! Це контакт-центр 1520.", reply_markup=keyboard(("Подати заявку", "v1:new"))
        )

    @router.callback_query(F.data == "v1:new")
    async def on_new(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text("Опишіть проблему одним повідомленням.")

    return router


async def test_dispatcher_polling_answers_start_and_a_button(
    server: FakeTelegramServer, bot: Bot
) -> None:
    dp = Dispatcher()
    dp.include_router(start_router())
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        server.push_update(message_update(RESIDENT, "/start"))
        [greeting] = await server.wait_for_sent(RESIDENT)
        assert greeting.text == "Вітаємо! Це контакт-центр 1520."

        server.press_button(RESIDENT, greeting.result["message_id"], text="Подати заявку")
        await server.wait_for(method_is("answerCallbackQuery"))
        [edit] = await server.wait_for(method_is("editMessageText"))
        assert edit.params["message_id"] == greeting.result["message_id"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, timeout=10)

    assert all(c.ok for c in server.calls if c.method != "getUpdates")


async def test_dispatcher_in_a_group_topic(server: FakeTelegramServer, bot: Bot) -> None:
    server.add_chat(STAFF_CHAT, type="supergroup", is_forum=True)
    topic = await bot.create_forum_topic(STAFF_CHAT, "Заявка #7")
    router = Router(name="staff")

    @router.message(F.chat.id == STAFF_CHAT)
    async def on_staff(message: Message) -> None:
        await message.reply("Прийнято в роботу")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        server.push_update(
            group_message_update(STAFF_CHAT, 7, "беру", thread_id=topic.message_thread_id)
        )
        [reply] = await server.wait_for_sent(STAFF_CHAT)
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, timeout=10)

    assert reply.params["message_thread_id"] == topic.message_thread_id
    assert reply.result["reply_to_message"]["text"] == "беру"


# -- webhook -----------------------------------------------------------------------------------


async def test_webhook_delivery_with_secret_and_reply_in_response(
    server: FakeTelegramServer, bot: Bot
) -> None:
    router = Router(name="webhook")

    @router.message(CommandStart())
    async def on_start(message: Message) -> SendMessage:
        return message.answer("через відповідь вебхука")

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="s3cret").register(
        app, path="/tg"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="s3cret")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        update_id = server.push_update(message_update(RESIDENT, "/start"))
        [reply] = await server.wait_for_sent(RESIDENT)
        info = await bot.get_webhook_info()
    finally:
        await runner.cleanup()

    assert reply.source == "webhook-reply"
    assert reply.text == "через відповідь вебхука"
    assert [d.update_id for d in server.webhook_deliveries] == [update_id]
    assert server.webhook_deliveries[0].status == 200
    assert info.url.endswith("/tg")
    assert info.pending_update_count == 0
    assert server.webhook is not None
    assert server.webhook["secret_token"] == "s3cret"


async def test_webhook_failure_is_retried() -> None:
    attempts: list[str] = []

    async def flaky(request: web.Request) -> web.Response:
        attempts.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""))
        return web.Response(status=500 if len(attempts) == 1 else 200)

    app = web.Application()
    app.router.add_post("/hook", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    async with FakeTelegramServer(webhook_retry_delay=0.05) as server:
        hook_bot = make_bot(server)
        try:
            await hook_bot.set_webhook(f"http://127.0.0.1:{port}/hook")
            server.push_update(message_update(RESIDENT, "hi"))
            for _ in range(200):
                if len(server.webhook_deliveries) >= 2:
                    break
                await asyncio.sleep(0.02)
            info = await hook_bot.get_webhook_info()
        finally:
            await hook_bot.session.close()
            await runner.cleanup()

    assert [d.status for d in server.webhook_deliveries[:2]] == [500, 200]
    assert attempts == ["", ""]
    assert info.last_error_message is not None
    assert "500" in info.last_error_message


async def test_strict_webhooks_require_https() -> None:
    async with FakeTelegramServer(strict_webhooks=True) as server:
        bot = make_bot(server)
        try:
            with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
                await bot.set_webhook("http://example.org/hook")
            assert await bot.set_webhook("https://example.org:8443/hook") is True
            assert await bot.delete_webhook() is True
        finally:
            await bot.session.close()


# -- recorded calls ----------------------------------------------------------------------------


def test_recorded_call_summary_is_one_line() -> None:
    call = RecordedCall(
        index=3,
        method="sendMessage",
        params={"chat_id": 1, "text": "x" * 500},
        time=0.0,
        status=400,
        response={"ok": False, "description": "Bad Request: message is too long"},
    )

    line = call.summary()

    assert line.startswith("#3 sendMessage -> 400 'Bad Request: message is too long'")
    assert "\n" not in line
    assert len(line) < 260
