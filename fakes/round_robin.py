"""A small round-robin HTTP proxy: the load balancer in front of several bot instances.

Each request goes to the next backend in turn, method, path, query, headers (the hop-by-hop
ones aside) and body as they came; the backend's status, headers and body come back as they
are. A backend that refuses the connection is skipped for that request (the next one is
tried, as a load balancer's health check would have it); when none accepts, 502. A backend
that takes the request and then drops the connection gives 502 too. Every answer a backend gave
names it in ``X-Upstream``. Nothing else: no retries after a request was sent, no buffering
limits, no TLS.

In a test or a benchmark::

    async with RoundRobinProxy(["http://127.0.0.1:8001", "http://127.0.0.1:8002"]) as proxy:
        ...  # POST to proxy.base_url + "/telegram"; proxy.counts says who got what

As its own process (so it takes no CPU from the caller's event loop)::

    python -m fakes.round_robin --port 8080 http://127.0.0.1:8001 http://127.0.0.1:8002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import Sequence
from types import TracebackType

import aiohttp
from aiohttp import web

__all__ = ["UPSTREAM_HEADER", "RoundRobinProxy", "main"]

UPSTREAM_HEADER = "X-Upstream"  # on every answer a backend gave: that backend's URL

logger = logging.getLogger(__name__)

# Headers about one connection, never forwarded (RFC 9110 7.6.1), and the ones aiohttp sets
# itself from the body it sends.
_HOP_BY_HOP = frozenset(
    name.lower()
    for name in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    )
)  # fmt: skip


class RoundRobinProxy:
    """Spreads requests over ``backends`` (base URLs such as ``http://127.0.0.1:8001``)."""

    def __init__(self, backends: Sequence[str], *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not backends:
            raise ValueError("a proxy needs at least one backend")
        self.backends = [url.rstrip("/") for url in backends]
        self.counts = [0] * len(self.backends)
        self.refused = [0] * len(self.backends)
        self.dropped = [0] * len(self.backends)
        self.host = host
        self.port = port
        self._turn = itertools.cycle(range(len(self.backends)))
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # as many connections as requests
            auto_decompress=False,  # bodies pass through as they are
            timeout=aiohttp.ClientTimeout(total=None, connect=5),
        )
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RoundRobinProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        first = next(self._turn)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            try:
                async with self._session.request(
                    request.method,
                    self.backends[index] + request.path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                ) as answer:
                    content = await answer.read()
                    self.counts[index] += 1
                    kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
                    # Who answered, as nginx's $upstream_addr in a header would tell.
                    kept[UPSTREAM_HEADER] = self.backends[index]
                    return web.Response(status=answer.status, body=content, headers=kept)
            except aiohttp.ClientConnectorError:
                # Nothing was sent: the next backend may take it.
                self.refused[index] += 1
            except (aiohttp.ClientError, OSError):
                # Sent, then the connection was cut (the backend died): it may have processed
                # the request, so it goes nowhere else; the poster sees a load balancer's 502.
                self.dropped[index] += 1
                return web.Response(status=502, text="the backend dropped the connection")
        return web.Response(status=502, text="no backend accepted the connection")


async def _serve(backends: Sequence[str], host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with RoundRobinProxy(backends, host=host, port=port) as proxy:
        logger.info("round-robin proxy on %s -> %s", proxy.base_url, ", ".join(proxy.backends))
        await stop.wait()
        logger.info("forwarded %s; refused connections %s", proxy.counts, proxy.refused)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A round-robin HTTP proxy for bot instances.")
    parser.add_argument("backends", nargs="+", metavar="URL", help="http://host:port of each")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_serve(args.backends, args.host, args.port))


if __name__ == "__main__":
    main()
