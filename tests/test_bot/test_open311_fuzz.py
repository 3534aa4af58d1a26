"""A property-based fuzzer (schemathesis, its command line) against the live Open311 API on
127.0.0.1 over a real SQLite file: every operation of ``docs/open311.yaml`` with generated valid
and invalid input; no 5xx, and every answer in the spec (status, content type, headers,
schema). Deterministic (a fixed seed, no example database) and offline."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Category, District, RequestDraft, Status
from domain.texts import Texts
from services.requests import RequestService
from services.routing import load_routing
from storage.sqlite import SqliteStorage
from tests.test_bot.open311_harness import PREFIX, SPEC_PATH, start_api

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)
STAFF = UserRef(ChannelName.TELEGRAM, "-100123")


async def _seed(storage: SqliteStorage, requests: RequestService, clock: ManualClock) -> None:
    """A few requests to read and update (one with a withheld location)."""
    async with storage.transaction() as session:
        resident = await session.residents.touch(
            UserRef(ChannelName.TELEGRAM, "5551"), now=clock.now()
        )
        for category in (Category.WATER, Category.DAMAGED_HOUSING, Category.WASTE):
            await requests.create(
                session,
                resident,
                RequestDraft(
                    category=category,
                    description='Опис <b>з розміткою</b> & "лапками"',
                    district=District.SAKSAHANSKYI,
                    address="вул. Зразкова, 1",
                    latitude=47.9,
                    longitude=33.4,
                    phone="0671234567",
                ),
            )
        from domain.requests import Actor  # noqa: PLC0415

        await requests.change_status(session, 1, Status.IN_PROGRESS, Actor.operator(1, "Олена"))


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    storage: SqliteStorage, clock: ManualClock, tmp_path: Path
) -> None:
    requests = RequestService(load_routing(), Texts.load(), clock, STAFF)
    await _seed(storage, requests, clock)
    api = await start_api(storage, clock, requests)
    try:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"))
        }
        environment["NO_PROXY"] = "*"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(SPEC_PATH),
            "--url",
            api.base + PREFIX,
            "--header",
            f"X-Api-Key: {api.write_key}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "1520",
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--no-color",
            "--report-dir",
            str(tmp_path / "report"),
            cwd=tmp_path,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    finally:
        await api.stop()
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text[-6000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", text)
    assert summary is not None, text[-3000:]
    assert summary.group(1) == summary.group(2), text[-3000:]  # no failure, no error
    assert int(summary.group(1)) > 300
    print(text[-1500:])  # the summary, with pytest -s
