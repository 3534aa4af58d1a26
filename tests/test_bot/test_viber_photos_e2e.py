"""Viber pictures are kept: downloaded from the (fake) Viber CDN when they arrive, stored under
MEDIA_DIR, and the staff card in Telegram uploads the kept file rather than an expiring URL."""

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
from domain.media import image_extension
from fakes.telegram_api import FakeTelegramServer, RecordedCall, UploadedFile
from fakes.viber_api import (
    DEFAULT_TOKEN,
    TINY_JPEG,
    FakeViberServer,
    message_callback,
    signed_callback,
)
from storage.sqlite import open_storage

TOKEN = "123456:MEDIA-test-token"
STAFF_CHAT = -1_001_234_567_891


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bots:
    def __init__(
        self, telegram: FakeTelegramServer, viber: FakeViberServer, port: int, root: Path
    ) -> None:
        self.telegram = telegram
        self.viber = viber
        self.url = f"http://127.0.0.1:{port}/viber"
        self.root = root
        self.http = aiohttp.ClientSession()

    @property
    def media_dir(self) -> Path:
        return self.root / "media"

    async def post(self, body: dict[str, Any]) -> int:
        raw, headers = signed_callback(body, DEFAULT_TOKEN)
        async with self.http.post(self.url, data=raw, headers=headers) as response:
            return response.status

    async def sent_to(self, user_id: str, count: int) -> list[dict[str, Any]]:
        for _ in range(500):
            messages = self.viber.sent_to(user_id)
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.02)
        raise AssertionError(f"only {self.viber.sent_to(user_id)} sent to {user_id}")

    async def press(self, user: str, label: str, seen: int) -> int:
        sent = await self.sent_to(user, seen)
        keyboard = next(m["keyboard"] for m in reversed(sent) if "keyboard" in m)
        body = next(b["ActionBody"] for b in keyboard["Buttons"] if label in b["Text"])
        await self.post(message_callback(user, text=body))
        return len(await self.sent_to(user, len(sent) + 1))

    async def say(self, user: str, seen: int, **content: Any) -> int:
        assert await self.post(message_callback(user, **content)) == 200
        return len(await self.sent_to(user, seen + 1))

    async def file_request_with_picture(self, user: str, picture: str) -> list[dict[str, Any]]:
        """The request form up to the photos step, ``picture`` sent there, then filed."""
        seen = await self.say(user, 0, text="/start")
        for label in ("Нова заявка", "Вуличне освітлення", "Саксаганський", "Так, погоджуюся"):
            seen = await self.press(user, label, seen)
        seen = await self.say(user, seen, text="вул. Зразкова, 10")
        seen = await self.say(user, seen, text="Не світить ліхтар біля під'їзду вже тиждень")
        seen = await self.say(user, seen, picture=picture, caption="ось він")
        seen = await self.press(user, "Готово", seen)
        seen = await self.say(user, seen, contact="+380671234567")
        await self.press(user, "Підтвердити", seen)
        return self.viber.sent_to(user)

    async def photos_of_request(self) -> list[str]:
        storage = await open_storage(f"sqlite:///{self.root / 'bot.sqlite3'}")
        try:
            async with storage.transaction() as session:
                request = await session.requests.get(1)
                assert request is not None
                return list(request.photos)
        finally:
            await storage.close()


@pytest.fixture
async def bots(tmp_path: Path) -> AsyncIterator[Bots]:
    telegram = FakeTelegramServer(token=TOKEN)
    await telegram.start()
    async with FakeViberServer() as viber:
        port = free_port()
        settings = Settings(
            _env_file=None,
            telegram_token=TOKEN,
            telegram_api_url=telegram.base_url,
            staff_chat_id=STAFF_CHAT,
            viber_token=DEFAULT_TOKEN,
            viber_api_url=viber.base_url,
            webhook_base_url="https://bot.example.test",
            webhook_port=port,
            webhook_host="127.0.0.1",
            database_url=f"sqlite:///{tmp_path}/bot.sqlite3",
            media_max_bytes=64 * 1024,
            quiet_hours="",
            ops_port=None,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_messengers(settings, stop=stop))
        bots = Bots(telegram, viber, port, tmp_path)
        for _ in range(1500):
            if viber.webhook_url or task.done():
                break
            await asyncio.sleep(0.02)
        assert viber.webhook_url
        try:
            yield bots
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
            await bots.http.close()
    await telegram.stop()


def photo_cards(telegram: FakeTelegramServer) -> list[RecordedCall]:
    return [c for c in telegram.sent_messages(STAFF_CHAT) if c.method == "sendPhoto"]


@pytest.mark.timeout(60)
async def test_a_picture_in_the_form_is_kept_and_the_card_uploads_it(bots: Bots) -> None:
    sent = await bots.file_request_with_picture("v-media-1", bots.viber.media_url())
    assert "1520-000001" in sent[-1]["text"]
    assert bots.viber.media_requests == ["photo.jpg"]

    [ref] = await bots.photos_of_request()
    assert ref.startswith("media:")
    assert ref.endswith(".jpg")
    kept = bots.media_dir / ref.removeprefix("media:")
    assert kept.read_bytes() == TINY_JPEG
    assert image_extension(kept.read_bytes()) == "jpg"
    assert [p.name for p in bots.media_dir.iterdir()] == [kept.name]  # no temporary left

    # The card goes to the staff chat as an upload of the kept file, not as a URL.
    await bots.telegram.wait_for(lambda c: c.method == "sendPhoto" and c.ok, timeout=15)
    [card] = photo_cards(bots.telegram)
    photo = card.params["photo"]
    assert isinstance(photo, UploadedFile)
    assert photo.content == TINY_JPEG
    assert "1520-000001" in (card.params.get("caption") or "")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("big.jpg", TINY_JPEG + b"\0" * (64 * 1024)),  # over MEDIA_MAX_BYTES
        ("page.jpg", b"<html>not a picture</html>"),  # served as image/jpeg all the same
        ("gone.jpg", None),  # expired already: 404
    ],
)
async def test_a_picture_not_kept_leaves_its_url_and_the_request(
    bots: Bots, name: str, data: bytes | None
) -> None:
    url = bots.viber.add_media(name, data) if data is not None else bots.viber.media_url(name)
    sent = await bots.file_request_with_picture("v-media-2", url)
    assert "1520-000001" in sent[-1]["text"]
    assert bots.viber.media_requests == [name]
    assert await bots.photos_of_request() == [url]
    assert list(bots.media_dir.iterdir()) == []


@pytest.mark.timeout(60)
async def test_a_picture_sent_outside_a_form_is_answered_and_not_downloaded(bots: Bots) -> None:
    # Nothing would keep it (no form, no operator): it is answered, and nobody's photo is
    # fetched from Viber or stored without a request it belongs to.
    seen = await bots.say("v-media-3", 0, text="/start")
    await bots.say("v-media-3", seen, picture=bots.viber.media_url(), caption="")
    assert bots.viber.media_requests == []
    assert not bots.media_dir.exists() or list(bots.media_dir.iterdir()) == []
