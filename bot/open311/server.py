"""The Open311 API's listener: ``API_HOST:API_PORT`` (off when ``API_PORT`` is empty), paths
under ``/open311/v2/``.

Every failure is answered with an Open311 error body in the format the path asks for
(``.xml`` -> XML, else JSON): a bad parameter, an unknown service or request, a missing or
wrong key, a read-only key writing, too many calls (429 with ``Retry-After``), an unknown path
or method, a body over ``API_MAX_BODY`` (413), a busy database (503 with ``Retry-After``).
Anything unexpected is logged and answered 500 in the same shape; the tests and the fuzzer
make sure nothing a client sends gets there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.open311.formats import error_response
from bot.open311.routes import Open311Routes
from services.open311_params import Open311Error
from storage.errors import StorageBusy

__all__ = ["API_PREFIX", "Open311Server"]

logger = logging.getLogger(__name__)

API_PREFIX = "/open311/v2"
DEFAULT_MAX_BODY = 64 * 1024

_REASONS = {
    404: "no such endpoint (see docs/open311.yaml)",
    405: "this method is not allowed here",
    413: "the request body is too large",
}


def _format(request: web.Request) -> str:
    return "xml" if request.path.endswith(".xml") else "json"


@web.middleware
async def open311_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    fmt = _format(request)
    try:
        return await handler(request)
    except Open311Error as error:
        headers = (
            {"Retry-After": str(int(error.retry_after))} if error.retry_after is not None else None
        )
        return error_response(fmt, error.status, error.description, headers=headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        description = _REASONS.get(error.status, error.reason)
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return error_response(fmt, error.status, description, headers=headers)
    except StorageBusy:
        logger.warning("open311 %s %s: the database is busy", request.method, request.path)
        return error_response(fmt, 503, "busy, try again", headers={"Retry-After": "1"})
    except Exception:
        logger.exception("open311 %s %s failed", request.method, request.path)
        return error_response(fmt, 500, "internal error")


class Open311Server:
    """The API's own aiohttp listener (started and stopped by the run modes)."""

    def __init__(self, routes: Open311Routes, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.routes = routes
        self.max_body = max_body
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body, middlewares=[open311_errors])
        self.routes.add_to(app, API_PREFIX)
        return app

    async def start(self, host: str, port: int | None) -> None:
        """Listen on ``host:port``; nothing when ``port`` is None (``API_PORT`` empty); port 0
        picks a free one (``self.port`` says which)."""
        if port is None:
            return
        runner = web.AppRunner(self.application(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        logger.info("Open311 API listening on %s:%s%s/", host, self.port, API_PREFIX)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
