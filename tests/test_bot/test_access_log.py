"""The webhook server logs refused requests only."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_log import AccessLogger

from bot.app import RefusedRequestsLog


def test_only_refused_requests_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("aiohttp.access")
    log = RefusedRequestsLog(logger, AccessLogger.LOG_FORMAT)
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        log.log(make_mocked_request("POST", "/telegram"), web.Response(status=200), 0.001)
        assert caplog.records == []
        log.log(make_mocked_request("POST", "/telegram"), web.Response(status=401), 0.001)
        log.log(make_mocked_request("POST", "/viber"), web.Response(status=403), 0.001)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert '"POST /telegram HTTP/1.1" 401' in lines[0]
    assert '"POST /viber HTTP/1.1" 403' in lines[1]
