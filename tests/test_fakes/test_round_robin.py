"""The round-robin proxy that stands for a load balancer in front of several bot instances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from fakes.round_robin import RoundRobinProxy


@asynccontextmanager
async def backend(name: str, *, status: int = 200) -> AsyncIterator[str]:
    """An HTTP server answering with its name and what it was sent."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "who": name,
                "method": request.method,
                "path": request.path_qs,
                "body": await request.text(),
                "secret": request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
            },
            status=status,
            headers={"X-Backend": name},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_requests_take_turns_and_pass_through_unchanged() -> None:
    async with (
        backend("a") as first,
        backend("b", status=500) as second,
        RoundRobinProxy([first, second]) as proxy,
        aiohttp.ClientSession() as client,
    ):
        seen = []
        for number in range(4):
            async with client.post(
                f"{proxy.base_url}/telegram?n={number}",
                data=f'{{"update_id": {number}}}',
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"},
            ) as response:
                body = await response.json()
                seen.append((response.status, response.headers["X-Backend"], body))
    assert [(status, who) for status, who, _ in seen] == [
        (200, "a"),
        (500, "b"),
        (200, "a"),
        (500, "b"),
    ]
    assert seen[2][2] == {
        "who": "a",
        "method": "POST",
        "path": "/telegram?n=2",
        "body": '{"update_id": 2}',
        "secret": "s3cret",
    }
    assert proxy.counts == [2, 2]


async def test_a_backend_that_refuses_connections_is_skipped() -> None:
    async with backend("a") as alive:
        gone = "http://127.0.0.1:1"  # nothing listens on port 1
        async with (
            RoundRobinProxy([gone, alive]) as proxy,
            aiohttp.ClientSession() as client,
        ):
            for _ in range(3):
                async with client.get(proxy.base_url + "/healthz") as response:
                    assert response.status == 200
                    assert (await response.json())["who"] == "a"
    assert proxy.counts == [0, 3]
    assert proxy.refused[0] >= 1


async def test_no_backend_accepting_is_a_502() -> None:
    async with (
        RoundRobinProxy(["http://127.0.0.1:1"]) as proxy,
        aiohttp.ClientSession() as client,
        client.get(proxy.base_url + "/") as response,
    ):
        assert response.status == 502
