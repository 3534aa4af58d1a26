"""Hostile text from residents (HTML, SQL, control and bidi characters, emoji, 100,000
characters, lone surrogates) through the running bot: stored verbatim, shown as plain text in
Telegram HTML the fake Bot API accepts, never over 4096 characters a message, tables intact."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.channel import TelegramChannel
from bot.telegram.runtime import create_bot
from domain.identity import ChannelName, UserRef
from domain.messages import Reply
from domain.payloads import build
from fakes.telegram_api import TEXT_LIMIT, RecordedCall, parse_telegram_html
from fakes.telegram_updates import callback_update, message_update
from tests.test_hostile.harness import TOKEN, LiveBot, live_bot
from tests.test_hostile.strategies import HOSTILE_SNIPPETS, HOSTILE_TEXT, long_hostile_text

_update_ids = itertools.count(2**41)
_users = itertools.count(3_000_000)
_SPACE = re.compile(r"\s+")

SQL = "'; DROP TABLE residents; --"
DESCRIPTIONS = st.one_of(
    HOSTILE_TEXT,
    st.sampled_from(HOSTILE_SNIPPETS).map(lambda snippet: f"Біля будинку {snippet} темно"),
    st.just(f"Під'їзд 3 {SQL} <b>не</b> світить & ліфт"),
).filter(lambda text: 10 <= len(text.strip()) <= 2000 and not text.strip().startswith("/"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBot]:
    with live_bot(tmp_path_factory.mktemp("hostile-text")) as bot:
        yield bot


async def _post(live: LiveBot, user: int, update: dict[str, Any]) -> list[RecordedCall]:
    mark = len(live.telegram.calls)
    assert await live.post_update(json.dumps(update).encode()) == 200
    return await live.telegram.wait_for_sent(user, start=mark, timeout=30)


async def say(live: LiveBot, user: int, text: str) -> list[RecordedCall]:
    return await _post(live, user, message_update(user, text, update_id=next(_update_ids)))


async def step(live: LiveBot, user: int, action: str, last: str) -> None:
    """Post a button press (``v1:...``) or a message and wait for the reply's last message
    (``last`` in it): the reply to a press may come after a later message's otherwise."""
    mark = len(live.telegram.calls)
    update_id = next(_update_ids)
    if action.startswith("v1:"):
        update = callback_update(user, action, update_id=update_id)
    else:
        update = message_update(user, action, update_id=update_id)
    assert await live.post_update(json.dumps(update).encode()) == 200
    await live.telegram.wait_for(
        lambda call: call.chat_id == user and call.ok and last in (call.text or ""),
        start=mark,
        timeout=15,
    )


def check_sent(live: LiveBot, user: int) -> list[str]:
    """Every message to ``user`` was accepted as Telegram HTML within the limit; their plain
    texts (as the resident sees them)."""
    plain: list[str] = []
    for call in live.telegram.sent_messages(user):
        text = call.params.get("text")
        if call.method != "sendMessage" or not isinstance(text, str):
            continue
        assert call.params.get("parse_mode") == "HTML"
        assert len(text) <= TEXT_LIMIT
        plain.append(parse_telegram_html(text)[0])
    failed = [
        call.summary() for call in live.telegram.calls if call.chat_id == user and not call.ok
    ]
    assert failed == []
    return plain


def stored_descriptions(live: LiveBot, user: int) -> list[str]:
    with closing(sqlite3.connect(live.database)) as db:
        rows = db.execute(
            "SELECT description FROM requests WHERE channel = 'telegram' AND chat_id = ?",
            (str(user),),
        ).fetchall()
    return [str(row[0]) for row in rows]


def tables(live: LiveBot) -> set[str]:
    with closing(sqlite3.connect(live.database)) as db:
        return {str(row[0]) for row in db.execute("SELECT name FROM sqlite_master")}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1]


def test_a_hostile_description_is_stored_verbatim_and_shown_as_text(live: LiveBot) -> None:
    schema = tables(live)

    @settings(max_examples=25, deadline=None, derandomize=True, database=None)
    @given(description=DESCRIPTIONS)
    def file_request(description: str) -> None:
        user = next(_users)

        async def intake() -> RecordedCall:
            await step(live, user, build("req_new"), "Нова заявка")
            await step(live, user, build("rq", "cat", "water"), "У якому районі")
            await step(live, user, build("rq", "dist", "ternivskyi"), "персональні дані")
            await step(live, user, build("rq", "consent", "yes"), "⬇️")
            await step(live, user, "вул. Кобилянського, 77", "Опишіть проблему")
            await step(live, user, description, "фото")
            await step(live, user, build("rq", "photos"), "⬇️")
            await step(live, user, "067 111 22 33", "Перевірте заявку")
            summary = live.telegram.sent_messages(user)[-1]
            await step(live, user, build("rq", "ok"), "Заявку зареєстровано")
            return summary

        summary = live.run(intake())
        plain = check_sent(live, user)
        shown = parse_telegram_html(str(summary.params["text"]))[0]
        assert _cut(description.strip(), 1500) in shown
        assert any("1520-" in text for text in plain), "the request was not created"
        assert stored_descriptions(live, user) == [description.strip()]

    file_request()
    assert tables(live) == schema
    assert live.errors.records == []


def test_sql_in_text_is_data(live: LiveBot) -> None:
    user = next(_users)
    live.run(say(live, user, SQL))
    live.run(say(live, user, "Robert'); DROP TABLE requests;--"))
    check_sent(live, user)
    with closing(sqlite3.connect(live.database)) as db:
        questions = {str(row[0]) for row in db.execute("SELECT question FROM consultations")}
        assert db.execute("SELECT COUNT(*) FROM residents").fetchone()[0] > 0
    assert SQL.lower() in questions  # unanswered questions are kept for editors, as typed
    assert {"residents", "requests", "consultations"} <= tables(live)


def test_a_hundred_thousand_characters_are_refused_politely(live: LiveBot) -> None:
    user = next(_users)
    text = ("<b>Допоможіть</b> '; DROP TABLE residents; -- 👩‍👩‍👧 \u202e ") * 2_500
    assert len(text) >= 100_000
    replies = live.run(say(live, user, text[:100_000]))
    plain = check_sent(live, user)
    assert "4000" in " ".join(plain)  # "too long ... shorten it to 4000 characters"
    assert len(replies) == 1
    with closing(sqlite3.connect(live.database)) as db:
        longest = db.execute("SELECT MAX(LENGTH(question)) FROM consultations").fetchone()[0]
    assert longest is None or longest < 1000


def test_a_lone_surrogate_gets_a_real_answer(live: LiveBot) -> None:
    user = next(_users)
    # Text nothing matches is kept as an unanswered question: it reaches the database.
    text = "\ud83d ззззз кккк щщщ"
    body = json.dumps(message_update(user, text, update_id=next(_update_ids)))
    assert "\\ud83d" in body  # representable in the webhook's JSON
    mark = len(live.telegram.calls)
    assert live.run(live.post_update(body.encode())) == 200
    sent = live.run(live.telegram.wait_for_sent(user, start=mark, timeout=30))
    check_sent(live, user)
    error = "технічна помилка"
    assert all(error not in (call.text or "") for call in sent)
    assert live.errors.records == []


def test_a_lone_surrogate_breaks_nothing(live: LiveBot) -> None:
    user = next(_users)
    body = json.dumps(message_update(user, "\udc00\ud800 укриття", update_id=next(_update_ids)))
    mark = len(live.telegram.calls)
    assert live.run(live.post_update(body.encode())) == 200
    live.run(live.telegram.wait_for_sent(user, start=mark, timeout=30))
    check_sent(live, user)
    live.run(say(live, user, "/start"))  # the same resident is still answered
    assert live.errors.records == []


def test_long_hostile_replies_are_split_into_valid_messages(live: LiveBot) -> None:
    bot = create_bot(TOKEN, live.telegram.base_url)
    channel = TelegramChannel(bot)
    chat = next(_users)

    @settings(max_examples=12, deadline=None, derandomize=True, database=None)
    @given(text=long_hostile_text(), title=st.none() | HOSTILE_TEXT.filter(str.strip))
    def send(text: str, title: str | None) -> None:
        mark = len(live.telegram.calls)
        live.run(channel.send(UserRef(ChannelName.TELEGRAM, str(chat)), [Reply(text, title=title)]))
        calls = [
            call
            for call in live.telegram.calls[mark:]
            if call.method == "sendMessage" and call.chat_id == chat
        ]
        assert calls
        assert all(call.ok for call in calls), [call.summary() for call in calls]
        assert all(len(str(call.params["text"])) <= TEXT_LIMIT for call in calls)
        shown = "".join(parse_telegram_html(str(call.params["text"]))[0] for call in calls)
        expected = (title + "\n" if title else "") + text
        # Split points may drop the whitespace they cut at; nothing else is lost or added.
        assert _SPACE.sub("", shown) == _SPACE.sub("", expected)

    try:
        send()
    finally:
        live.run(bot.session.close())
    live.run(asyncio.sleep(0))
