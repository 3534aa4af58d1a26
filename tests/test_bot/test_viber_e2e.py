"""The whole bot with only Viber configured: signed callbacks in, the fake Viber REST server out."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import run_messengers
from bot.settings import Settings
from domain.payloads import build
from fakes.viber_api import (
    DEFAULT_TOKEN,
    FakeViberServer,
    conversation_started_callback,
    message_callback,
    signed_callback,
    subscribed_callback,
    unsubscribed_callback,
)
from faq.content_model import SHORT_MAX_CHARS
from faq.knowledge import load_knowledge_base
from handlers.consult import MAX_RELATED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningBot:
    def __init__(self, viber: FakeViberServer, port: int) -> None:
        self.viber = viber
        self.url = f"http://127.0.0.1:{port}/viber"
        self.http = aiohttp.ClientSession()

    async def post(self, body: dict[str, Any], *, token: str = DEFAULT_TOKEN) -> tuple[int, Any]:
        raw, headers = signed_callback(body, token)
        async with self.http.post(self.url, data=raw, headers=headers) as response:
            text = await response.text()
            return response.status, (await response.json() if text.startswith("{") else text)

    async def sent_to(self, user_id: str, count: int) -> list[dict[str, Any]]:
        for _ in range(500):
            messages = self.viber.sent_to(user_id)
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.02)
        raise AssertionError(f"only {self.viber.sent_to(user_id)} sent to {user_id}")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with FakeViberServer() as viber:
        port = free_port()
        settings = Settings(
            _env_file=None,
            viber_token=DEFAULT_TOKEN,
            viber_api_url=viber.base_url,
            webhook_base_url="https://bot.example.test",
            webhook_port=port,
            webhook_host="127.0.0.1",
            database_url=f"sqlite:///{tmp_path}/bot.sqlite3",
            quiet_hours="",  # status updates would otherwise wait for 08:00 on a night run
            ops_port=None,  # no ops listener: 8081 may be taken by another run
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_messengers(settings, stop=stop))
        bot = RunningBot(viber, port)
        for _ in range(500):
            if viber.webhook_url or task.done():
                break
            await asyncio.sleep(0.02)
        assert viber.webhook_url == "https://bot.example.test/viber"
        try:
            yield bot
        finally:
            stop.set()
            await task
            await bot.http.close()


async def test_welcome_then_a_consultation_in_viber(running: RunningBot) -> None:
    status, body = await running.post(conversation_started_callback("v-1"))
    assert status == 200
    assert "Контакт-центру" in body["text"]
    assert body["keyboard"]["Buttons"]

    status, _ = await running.post(message_callback("v-1", text="як отримати довідку ВПО"))
    assert status == 200
    sent = await running.sent_to("v-1", 1)
    assert "ЦНАП" in sent[-1]["text"]
    labels = [button["Text"] for button in sent[-1]["keyboard"]["Buttons"]]
    assert any("Так" in label for label in labels)


def keyboard_texts(message: dict[str, Any]) -> list[str]:
    return [str(button["Text"]) for button in message["keyboard"]["Buttons"]]


def first(texts: list[str], part: str) -> int:
    return next(index for index, text in enumerate(texts) if part in text)


async def test_a_short_answer_more_details_and_related_topics_in_viber(running: RunningBot) -> None:
    kb = load_knowledge_base()
    shelters = kb.entry("shelters")
    related = [kb.entry(i) for i in shelters.related[:MAX_RELATED]]
    user = "v-10"
    await running.post(message_callback(user, text="де найближче укриття"))
    [answer] = await running.sent_to(user, 1)
    title, body = answer["text"].split("\n\n", 1)
    assert title == shelters.title.uk
    assert body.startswith(shelters.short.uk)
    assert len(body) <= SHORT_MAX_CHARS
    assert "Джерела" not in body
    texts = keyboard_texts(answer)
    order = ["Знайти найближче укриття", "Детальніше", *(t.title.uk for t in related), "👍", "👎"]
    assert [first(texts, part) for part in order] == list(range(len(order)))

    seen = await press(running, user, "Детальніше", 1)
    details = (await running.sent_to(user, seen + 1))[-1]
    assert shelters.answer.uk in details["text"]
    assert "Джерела: ДСНС України (https://dsns.gov.ua)" in details["text"]
    texts = keyboard_texts(details)
    assert first(texts, "Знайти найближче укриття") < first(texts, "👍")
    assert not any("Детальніше" in text for text in texts)

    seen = await press(running, user, related[0].title.uk, seen + 1)
    opened = (await running.sent_to(user, seen + 1))[-1]
    assert opened["text"].startswith(related[0].title.uk + "\n\n" + related[0].short.uk)

    # A "More details" button of a topic the content no longer has.
    await running.post(message_callback(user, text=build("faqd", "no_such_topic", 1)))
    stale = (await running.sent_to(user, seen + 2))[-1]
    assert "Цієї теми вже немає в довідці" in stale["text"]


async def test_a_person_in_danger_gets_the_emergency_number_first(running: RunningBot) -> None:
    status, _ = await running.post(message_callback("v-9", text="людина впала і не дихає!!"))
    assert status == 200
    [sent] = await running.sent_to("v-9", 1)
    lines = [line for line in sent["text"].splitlines() if line.strip()]
    assert "🆘" in lines[0]
    assert lines[2].startswith("📞 103")


async def test_a_menu_button_comes_back_as_its_payload(running: RunningBot) -> None:
    await running.post(message_callback("v-2", text="/start"))
    sent = await running.sent_to("v-2", 1)
    about = next(
        b["ActionBody"] for b in sent[-1]["keyboard"]["Buttons"] if "Про контакт" in b["Text"]
    )
    await running.post(message_callback("v-2", text=about))
    sent = await running.sent_to("v-2", len(sent) + 1)
    assert "(056) 49-9-15-20" in sent[-1]["text"]


async def test_redelivered_callback_is_answered_once(running: RunningBot) -> None:
    callback = message_callback("v-3", text="/help")
    await running.post(callback)
    await running.post(callback)
    await running.sent_to("v-3", 1)
    await asyncio.sleep(0.3)
    assert len(running.viber.sent_to("v-3")) == 1


async def test_bad_signature_and_malformed_bodies_change_nothing(running: RunningBot) -> None:
    status, _ = await running.post(message_callback("v-4", text="/start"), token="wrong")
    assert status == 403
    async with running.http.post(running.url, data=b"{not json", headers={}) as response:
        assert response.status == 403
    raw, headers = signed_callback({"event": "message"})
    async with running.http.post(running.url, data=raw, headers=headers) as response:
        assert response.status == 400
    await asyncio.sleep(0.2)
    assert running.viber.sent_to("v-4") == []


async def test_shared_location_gives_the_nearest_shelters(running: RunningBot) -> None:
    await running.post(message_callback("v-5", location=(47.91, 33.39)))
    sent = await running.sent_to("v-5", 1)
    texts = " ".join(message.get("text", "") for message in sent)
    assert texts.count("openstreetmap.org") == 3


async def test_subscription_events_are_accepted(running: RunningBot) -> None:
    assert (await running.post(subscribed_callback("v-6")))[0] == 200
    assert (await running.post(unsubscribed_callback("v-6")))[0] == 200


async def press(running: RunningBot, user: str, label: str, seen: int) -> int:
    """Press the button whose text contains ``label`` on the latest keyboard; return the count
    of messages sent to ``user`` before the press."""
    sent = await running.sent_to(user, seen)
    keyboard = next(m["keyboard"] for m in reversed(sent) if "keyboard" in m)
    body = next(b["ActionBody"] for b in keyboard["Buttons"] if label in b["Text"])
    await running.post(message_callback(user, text=body))
    return len(sent)


async def test_a_full_request_with_a_shared_contact_and_a_status_update(
    running: RunningBot, tmp_path: Path
) -> None:
    user = "v-7"
    await running.post(message_callback(user, text="/start"))
    seen = len(await running.sent_to(user, 1))
    for label in ("Нова заявка", "Вуличне освітлення", "Саксаганський", "Так, погоджуюся"):
        await press(running, user, label, seen)
        seen = len(await running.sent_to(user, seen + 1))
    for text in ("вул. Зразкова, 10", "Не світить ліхтар біля під'їзду вже тиждень"):
        await running.post(message_callback(user, text=text))
        seen = len(await running.sent_to(user, seen + 1))
    await press(running, user, "Пропустити", seen)
    seen = len(await running.sent_to(user, seen + 1))
    await running.post(message_callback(user, contact="+380671234567"))
    seen = len(await running.sent_to(user, seen + 1))
    assert "+380671234567" in running.viber.sent_to(user)[-1]["text"]
    await press(running, user, "Підтвердити", seen)
    sent = await running.sent_to(user, seen + 1)
    assert "1520-000001" in sent[-1]["text"]

    # An operator takes it into work (through the same service and database the bot uses);
    # the running bot's outbox worker tells the resident in Viber.
    from bot.compose import build_request_service  # noqa: PLC0415
    from domain.clock import SystemClock  # noqa: PLC0415
    from domain.requests import Actor, ActorKind, Status  # noqa: PLC0415
    from domain.texts import Texts  # noqa: PLC0415
    from storage.sqlite import SqliteStorage  # noqa: PLC0415

    settings = Settings(_env_file=None)
    service = build_request_service(settings, texts=Texts.load(), clock=SystemClock())
    storage = await SqliteStorage.open(tmp_path / "bot.sqlite3")
    try:
        async with storage.transaction() as session:
            found = await service.find(session, "1520-000001")
            assert found
            await service.change_status(
                session, found[0].id, Status.IN_PROGRESS, Actor(ActorKind.OPERATOR, "42")
            )
    finally:
        await storage.close()
    sent = await running.sent_to(user, len(sent) + 1)
    assert "1520-000001" in sent[-1]["text"]
    assert "розпочато роботи" in sent[-1]["text"]
