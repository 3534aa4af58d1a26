"""``API_PORT`` in a real process: ``python -m bot worker`` serves the Open311 API next to the
delivery worker, with a key made beforehand, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from domain.clock import SystemClock
from services.open311_keys import ApiKeys
from storage.open311 import ApiScope
from storage.sqlite import open_storage

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(120)
async def test_the_worker_process_serves_the_api_on_api_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    storage = await open_storage(url)
    try:
        async with storage.transaction() as session:
            _, key = await ApiKeys(SystemClock()).create(session, "back-office", ApiScope.WRITE)
    finally:
        await storage.close()
    port = free_port()
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=url,
        TELEGRAM_TOKEN="",
        VIBER_TOKEN="",
        OPS_PORT="",
        API_PORT=str(port),
        API_HOST="127.0.0.1",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker",
        cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/open311/v2"
    headers = {"X-Api-Key": key}
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "the worker exited"
                assert time.monotonic() < deadline, "the API never answered"
                try:
                    async with http.get(f"{base}/services.json", headers=headers) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            form = {"service_code": "waste", "address_string": "двір", "description": "Баки"}
            async with http.post(f"{base}/requests.json", data=form, headers=headers) as created:
                assert created.status == 200
                [body] = await created.json()
            assert body["service_request_id"] == "1520-000001"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert "Open311 API listening" in stderr.decode()
