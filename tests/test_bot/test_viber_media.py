"""Downloading a Viber picture: refused while it streams once past the limit (whatever the
headers say), and a failed keep gives the URL back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.viber.client import ViberClient
from bot.viber.media import PhotoKeeper
from domain.channel import TemporaryFailure
from domain.identity import ChannelName, UserRef
from fakes.viber_api import TINY_JPEG
from storage.media import FileMediaStore

ANN = UserRef(ChannelName.VIBER, "ann")
BOB = UserRef(ChannelName.VIBER, "bob")


async def chunked(request: web.Request) -> web.StreamResponse:
    """No Content-Length: the size shows only while reading."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(TINY_JPEG)
    for _ in range(int(request.query.get("chunks", "0"))):
        await response.write(b"\0" * 1024)
    await response.write_eof()
    return response


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/media/photo.jpg", chunked)
    test_server = TestServer(app)
    await test_server.start_server()
    try:
        yield test_server
    finally:
        await test_server.close()


@pytest.fixture
async def client() -> AsyncIterator[ViberClient]:
    async with ViberClient("token") as viber:
        yield viber


async def test_a_stream_past_the_limit_is_refused(server: TestServer, client: ViberClient) -> None:
    url = str(server.make_url("/media/photo.jpg"))
    assert await client.download(url, max_bytes=4096) == TINY_JPEG
    with pytest.raises(ValueError, match="more than 4096"):
        await client.download(url + "?chunks=8", max_bytes=4096)


async def test_an_unreachable_address_is_a_temporary_failure(client: ViberClient) -> None:
    with pytest.raises(TemporaryFailure):
        await client.download("http://127.0.0.1:9/media/photo.jpg", max_bytes=4096)
    with pytest.raises(ValueError, match="not a web address"):
        await client.download("file:///etc/passwd", max_bytes=4096)


async def test_the_keeper_keeps_or_gives_the_url_back(
    server: TestServer, client: ViberClient, tmp_path: Path
) -> None:
    store = FileMediaStore(tmp_path / "media", max_bytes=4096)
    keeper = PhotoKeeper(client, store)
    url = str(server.make_url("/media/photo.jpg"))
    ref = await keeper.keep(ANN, url)
    assert ref.startswith("media:")
    assert store.path_of(ref) is not None
    too_big = url + "?chunks=8"
    assert await keeper.keep(ANN, too_big) == too_big
    assert await keeper.keep(ANN, "http://127.0.0.1:9/x.jpg") == "http://127.0.0.1:9/x.jpg"
    assert await keeper.keep(ANN, "AgACfileid") == "AgACfileid"


async def test_the_keeper_downloads_only_what_the_conversation_keeps(
    server: TestServer, client: ViberClient, tmp_path: Path
) -> None:
    store = FileMediaStore(tmp_path / "media", max_bytes=4096)
    asked: list[UserRef] = []

    async def wanted(user: UserRef) -> bool:
        asked.append(user)
        return user == ANN

    keeper = PhotoKeeper(client, store, wanted=wanted)
    url = str(server.make_url("/media/photo.jpg"))
    assert await keeper.keep(BOB, url) == url
    assert not (tmp_path / "media").exists() or list((tmp_path / "media").iterdir()) == []
    assert (await keeper.keep(ANN, url)).startswith("media:")
    assert asked == [BOB, ANN]
