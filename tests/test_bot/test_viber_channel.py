"""``ViberChannel`` and its rendering: texts, splits, keyboards and media, checked by the fake."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.viber.channel import ViberChannel
from bot.viber.client import ViberClient
from bot.viber.render import (
    BUTTON_TEXT_LIMIT,
    KEYBOARD_MAX_ROWS,
    MORE_PAYLOAD,
    TEXT_LIMIT,
    button_text,
    keyboard_pages,
    keyboard_rows,
    split_text,
)
from domain.channel import RecipientBlocked
from domain.identity import ChannelName, UserRef
from domain.messages import Button, ButtonKind, Location, Photo, Reply
from fakes.viber_api import DEFAULT_TOKEN, FakeViberServer

USER = "01234567890A="
CHAT = UserRef(ChannelName.VIBER, USER)
NAME = "Контакт-центр 1520"


@pytest.fixture
async def viber() -> AsyncIterator[FakeViberServer]:
    async with FakeViberServer() as server:
        yield server


@pytest.fixture
async def channel(viber: FakeViberServer) -> AsyncIterator[ViberChannel]:
    async with ViberClient(DEFAULT_TOKEN, base_url=viber.base_url) as client:
        yield ViberChannel(client, NAME)


def payload_buttons(count: int, per_row: int = 1) -> tuple[tuple[Button, ...], ...]:
    buttons = [Button(f"Кнопка {n}", f"v1:menu:{n}") for n in range(count)]
    return tuple(tuple(buttons[i : i + per_row]) for i in range(0, count, per_row))


def action_bodies(message: dict[str, Any]) -> list[str]:
    return [button["ActionBody"] for button in message["keyboard"]["Buttons"]]


# --- text ------------------------------------------------------------------------------------


async def test_a_text_reply_is_one_text_message_with_sender(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    sent = await channel.send(CHAT, [Reply("Ваша заявка №42 прийнята.")])
    assert len(sent) == 1
    (message,) = viber.sent_to(USER)
    assert message["type"] == "text"
    assert message["text"] == "Ваша заявка №42 прийнята."
    assert message["sender"] == {"name": NAME}
    assert "keyboard" not in message


async def test_sent_returns_one_message_id_per_viber_message(channel: ViberChannel) -> None:
    sent = await channel.send(CHAT, [Reply("один"), Reply("два")])
    assert len(sent) == 2
    assert all(s.message_id.isdigit() for s in sent)
    assert sent[0].message_id != sent[1].message_id


async def test_title_and_text_are_joined_as_plain_text(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    await channel.send(CHAT, [Reply("Текст <b>не</b> розмітка", title="Укриття")])
    assert viber.sent[0]["text"] == "Укриття\n\nТекст <b>не</b> розмітка"


async def test_a_long_text_is_split_into_messages_within_the_limit(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    paragraph = "Пункт незламності працює цілодобово. " * 40
    text = "\n\n".join([paragraph.strip()] * 12)
    assert len(text) > 2 * TEXT_LIMIT
    await channel.send(CHAT, [Reply(text)])
    parts = [message["text"] for message in viber.sent]
    assert len(parts) == 3
    assert all(len(part) <= TEXT_LIMIT for part in parts)
    assert "\n\n".join(parts) == text  # cut at paragraph breaks


def test_split_prefers_paragraphs_then_lines_then_spaces() -> None:
    assert split_text("aaaaaaa\n\nbb\ncc dd", 14) == ["aaaaaaa", "bb\ncc dd"]
    assert split_text("aaaa bbbb\ncccc", 10) == ["aaaa bbbb", "cccc"]
    assert split_text("aaaa bbbb cccc", 10) == ["aaaa bbbb", "cccc"]


def test_split_cuts_a_long_word_hard() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_of_empty_or_blank_text_is_nothing() -> None:
    assert split_text("") == []
    assert split_text(" \n ") == []


@given(text=st.text(alphabet=st.sampled_from("ab \n"), max_size=300), limit=st.integers(2, 40))
def test_split_parts_fit_and_keep_every_visible_character(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert all(part == part.strip() for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


# --- keyboards -------------------------------------------------------------------------------


async def test_buttons_become_a_keyboard_on_the_last_text_message(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    buttons = (
        (Button("Подати заявку", "v1:req_new"), Button("Мої заявки", "v1:req_my")),
        (Button("Оператор", "v1:operator"),),
    )
    await channel.send(CHAT, [Reply("x" * 9000, buttons=buttons)])
    first, last = viber.sent
    assert "keyboard" not in first
    keyboard = last["keyboard"]
    assert keyboard["Type"] == "keyboard"
    assert keyboard["DefaultHeight"] is False
    assert [(b["Columns"], b["Rows"], b["ActionType"]) for b in keyboard["Buttons"]] == [
        (3, 1, "reply"),
        (3, 1, "reply"),
        (6, 1, "reply"),
    ]
    assert action_bodies(last) == ["v1:req_new", "v1:req_my", "v1:operator"]
    assert [b["Text"] for b in keyboard["Buttons"]] == ["Подати заявку", "Мої заявки", "Оператор"]
    assert "min_api_version" not in last


def test_columns_are_shared_out_evenly() -> None:
    def widths(count: int) -> list[list[int]]:
        rows = keyboard_rows(payload_buttons(count, per_row=count))
        return [[button["Columns"] for button in row] for row in rows]

    assert widths(1) == [[6]]
    assert widths(4) == [[2, 2, 1, 1]]
    assert widths(5) == [[2, 1, 1, 1, 1]]
    assert widths(6) == [[1] * 6]
    assert widths(8) == [[2, 2, 1, 1], [2, 2, 1, 1]]


def test_button_labels_are_escaped_and_cut() -> None:
    assert button_text("Вода & світло <24/7>") == "Вода &amp; світло &lt;24/7&gt;"
    long = button_text("&" * 300)
    assert len(long) <= BUTTON_TEXT_LIMIT
    assert long.endswith("…")
    assert "&amp;" in long
    assert not long.removesuffix("…").endswith(("&", "&a", "&am", "&amp"))


async def test_share_buttons_use_pickers_and_api_level_3(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    buttons = (
        (Button("Надіслати геолокацію", kind=ButtonKind.SHARE_LOCATION),),
        (Button("Поділитися номером", kind=ButtonKind.SHARE_CONTACT),),
        (Button("Сайт", "https://spilkuisia.kr.gov.ua", ButtonKind.URL),),
    )
    await channel.send(CHAT, [Reply("Де ви?", buttons=buttons)])
    (message,) = viber.sent
    assert [b["ActionType"] for b in message["keyboard"]["Buttons"]] == [
        "location-picker",
        "share-phone",
        "open-url",
    ]
    assert message["keyboard"]["Buttons"][2]["ActionBody"] == "https://spilkuisia.kr.gov.ua"
    assert message["min_api_version"] == 3


async def test_a_keyboard_stays_on_later_messages_of_the_same_batch(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    menu = Reply("Оберіть тему", buttons=((Button("Укриття", "v1:shelter"),),))
    await channel.send(CHAT, [Reply("Вітаємо"), menu, Reply("Або напишіть питання")])
    first, second, third = viber.sent
    assert "keyboard" not in first
    assert action_bodies(second) == ["v1:shelter"]
    assert action_bodies(third) == ["v1:shelter"]


async def test_a_big_keyboard_is_paged_with_a_more_button(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    buttons = payload_buttons(50)
    await channel.send(CHAT, [Reply("Оберіть район", buttons=buttons)])
    (message,) = viber.sent  # the fake refuses keyboards over 24 rows
    bodies = action_bodies(message)
    assert len(bodies) == KEYBOARD_MAX_ROWS
    assert bodies[:-1] == [f"v1:menu:{n}" for n in range(23)]
    assert bodies[-1] == MORE_PAYLOAD

    assert await channel.show_next_keyboard_page(CHAT)
    assert action_bodies(viber.sent[-1]) == [f"v1:menu:{n}" for n in range(23, 46)] + [MORE_PAYLOAD]
    assert "type" not in viber.sent[-1]  # a keyboard-only message
    assert await channel.show_next_keyboard_page(CHAT)
    assert action_bodies(viber.sent[-1]) == [f"v1:menu:{n}" for n in range(46, 50)] + [MORE_PAYLOAD]
    assert await channel.show_next_keyboard_page(CHAT)  # wraps to the first page
    assert action_bodies(viber.sent[-1]) == bodies


def test_every_page_fits_the_row_limit() -> None:
    pages = keyboard_pages(payload_buttons(100, per_row=2))
    assert len(pages) == 3
    assert all(len(page["Buttons"]) <= 2 * 23 + 1 for page in pages)
    assert keyboard_pages(payload_buttons(24)) == [keyboard_pages(payload_buttons(24))[0]]


async def test_more_without_known_pages_is_left_to_the_handler(channel: ViberChannel) -> None:
    assert not await channel.show_next_keyboard_page(CHAT)


async def test_a_small_keyboard_forgets_earlier_pages(channel: ViberChannel) -> None:
    await channel.send(CHAT, [Reply("a", buttons=payload_buttons(30))])
    await channel.send(CHAT, [Reply("b", buttons=payload_buttons(2))])
    assert not await channel.show_next_keyboard_page(CHAT)


async def test_buttons_without_text_travel_as_a_keyboard_only_message(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    await channel.send(CHAT, [Reply("", buttons=payload_buttons(1))])
    (message,) = viber.sent
    assert "type" not in message
    assert action_bodies(message) == ["v1:menu:0"]


# --- media -----------------------------------------------------------------------------------


async def test_a_location_goes_before_the_text_that_carries_the_keyboard(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    reply = Reply(
        "Укриття: вул. Соборності, 1",
        location=Location(47.9105, 33.3918),
        buttons=payload_buttons(1),
    )
    await channel.send(CHAT, [reply])
    location, text = viber.sent
    assert location["type"] == "location"
    assert location["location"] == {"lat": 47.9105, "lon": 33.3918}
    assert text["type"] == "text"
    assert "keyboard" in text


async def test_a_photo_is_a_picture_message(viber: FakeViberServer, channel: ViberChannel) -> None:
    photo = Photo("https://dl-media.viber.com/p.jpg", caption="Фото з заявки")
    await channel.send(CHAT, [Reply("", photo=photo)])
    (picture,) = viber.sent
    assert picture == {
        "type": "picture",
        "media": "https://dl-media.viber.com/p.jpg",
        "text": "Фото з заявки",
        "sender": {"name": NAME},
        "receiver": USER,
    }


async def test_a_photo_that_is_not_a_url_is_dropped(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    await channel.send(CHAT, [Reply("Текст", photo=Photo("AgACAgIAAxkBAAIB"))])
    assert [message["type"] for message in viber.sent] == ["text"]


async def test_image_bytes_cannot_be_uploaded_so_only_the_text_goes(
    viber: FakeViberServer, channel: ViberChannel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.viber.channel"):
        await channel.send(CHAT, [Reply("Статистика за тиждень", image=b"\x89PNG...")])
    assert [message["text"] for message in viber.sent] == ["Статистика за тиждень"]
    assert "Viber needs a URL" in caplog.text
    assert "Статистика" not in caplog.text


# --- errors and welcome ----------------------------------------------------------------------


async def test_an_unsubscribed_person_raises_recipient_blocked(
    viber: FakeViberServer, channel: ViberChannel
) -> None:
    viber.unsubscribe(USER)
    with pytest.raises(RecipientBlocked):
        await channel.send(CHAT, [Reply("Статус заявки змінено")])


async def test_a_chat_of_another_channel_is_a_programming_error(channel: ViberChannel) -> None:
    with pytest.raises(ValueError, match="telegram"):
        await channel.send(UserRef(ChannelName.TELEGRAM, "1"), [Reply("x")])


def test_welcome_message_joins_texts_and_takes_the_keyboard(channel: ViberChannel) -> None:
    replies = [
        Reply("Вітаємо у чат-боті 1520", title="Контакт-центр"),
        Reply("Оберіть дію", buttons=payload_buttons(2)),
    ]
    message = channel.welcome_message(CHAT, replies)
    assert message is not None
    assert message["sender"] == {"name": NAME}
    assert message["type"] == "text"
    assert message["text"] == "Контакт-центр\n\nВітаємо у чат-боті 1520\n\nОберіть дію"
    assert action_bodies(message) == ["v1:menu:0", "v1:menu:1"]
    assert "receiver" not in message


def test_no_welcome_for_no_replies(channel: ViberChannel) -> None:
    assert channel.welcome_message(CHAT, []) is None


def test_the_sender_name_is_required_and_cut(channel: ViberChannel) -> None:
    assert channel.sender == {"name": NAME}
    with pytest.raises(ValueError, match="sender name"):
        ViberChannel(ViberClient(DEFAULT_TOKEN), " ")
    long = ViberChannel(ViberClient(DEFAULT_TOKEN), "Н" * 40, sender_avatar="https://x/a.png")
    assert long.sender == {"name": "Н" * 28, "avatar": "https://x/a.png"}
