"""The Open311 API over real HTTP for tests (no tests of its own): the server on 127.0.0.1 over
a real SQLite file, keys made as the CLI makes them, and a client that checks every answer
against ``docs/open311.yaml`` (openapi-core) and every XML answer against its JSON twin."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

from bot.open311 import Open311Server
from bot.open311.routes import Open311Routes
from domain.clock import ManualClock
from services.open311 import Open311Service
from services.open311_keys import ApiKeys
from services.open311_limits import KeyRateLimiter
from services.requests import RequestService
from storage.base import Storage
from storage.open311 import ApiScope

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "open311.yaml"
SPEC = OpenAPI.from_file_path(str(SPEC_PATH))
PREFIX = "/open311/v2"


@dataclass
class Answer:
    """One HTTP answer: status, headers, raw body, and the body parsed (JSON or XML)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    fmt: str

    @property
    def json(self) -> Any:
        assert self.fmt == "json", "not a JSON answer"
        return json.loads(self.body)

    @property
    def xml(self) -> ET.Element:
        assert self.fmt == "xml", "not an XML answer"
        return ET.fromstring(self.body)


def xml_as_json(root: ET.Element) -> Any:
    """An XML document of ours in the shape of its JSON twin, every leaf a string."""
    if root.tag == "service_definition":
        attributes = []
        for attribute in root.findall("attributes/attribute"):
            item: dict[str, Any] = {
                child.tag: child.text or "" for child in attribute if child.tag != "values"
            }
            item["values"] = [
                {child.tag: child.text or "" for child in value}
                for value in attribute.findall("values/value")
            ]
            attributes.append(item)
        return {"service_code": root.findtext("service_code"), "attributes": attributes}
    return [{child.tag: child.text or "" for child in item} for item in root]


def as_strings(value: Any) -> Any:
    """A JSON document with every leaf written as the XML writes it."""
    if isinstance(value, list):
        return [as_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: as_strings(item) for key, item in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass
class ApiClient:
    """Calls the API and checks each answer against the OpenAPI file."""

    session: aiohttp.ClientSession
    base: str
    key: str | None
    checked: int = 0

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent_headers = dict(headers or {})
        chosen = key if key is not None else self.key
        if chosen:
            sent_headers["X-Api-Key"] = chosen
        data: Any = form if form is not None else body
        if content_type is not None:
            sent_headers["Content-Type"] = content_type
        async with self.session.request(
            method, self.base + PREFIX + path, params=params, data=data, headers=sent_headers
        ) as response:
            raw = await response.read()
            answer = Answer(
                response.status,
                dict(response.headers),
                raw,
                "xml" if path.endswith(".xml") else "json",
            )
        self._check(method, path, params or {}, answer)
        return answer

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, form: Mapping[str, str], **kwargs: Any) -> Answer:
        return await self.call("POST", path, form=form, **kwargs)

    def _check(self, method: str, path: str, params: Mapping[str, str], answer: Answer) -> None:
        content_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
        expected = "text/xml" if answer.fmt == "xml" else "application/json"
        if answer.status != 200 or not content_type.startswith("image/"):
            assert content_type == expected, (answer.status, content_type, answer.body[:200])
        request = MockRequest(
            self.base, method.lower(), PREFIX + path, args=dict(params), content_type=""
        )
        response = MockResponse(
            answer.body,
            status_code=answer.status,
            headers=dict(answer.headers),
            content_type=content_type,
        )
        try:
            SPEC.validate_response(request, response)
        except PathNotFound:
            # Only an unknown path or method is outside the spec: it still gets an error body.
            assert answer.status == 404, answer.status
        except OperationNotFound:
            assert answer.status == 405, answer.status
            assert "Allow" in answer.headers
        if answer.status >= 400:
            errors = answer.json if answer.fmt == "json" else xml_as_json(answer.xml)
            assert len(errors) == 1
            assert str(errors[0]["code"]) == str(answer.status)
            assert errors[0]["description"]
        self.checked += 1


@dataclass
class ApiWorld:
    """The API server over ``storage`` and ``requests``, with a write key and a read key."""

    storage: Storage
    clock: ManualClock
    requests: RequestService
    server: Open311Server
    http: aiohttp.ClientSession
    write_key: str
    read_key: str
    clients: list[ApiClient] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(self, key: str | None = None, *, read: bool = False) -> ApiClient:
        chosen = key if key is not None else (self.read_key if read else self.write_key)
        client = ApiClient(self.http, self.base, chosen)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        await self.http.close()
        await self.server.stop()


async def make_key(storage: Storage, clock: ManualClock, name: str, scope: ApiScope) -> str:
    async with storage.transaction() as session:
        _, text = await ApiKeys(clock).create(session, name, scope)
    return text


async def start_api(
    storage: Storage,
    clock: ManualClock,
    requests: RequestService,
    *,
    rate_per_minute: float = 100_000.0,
    max_body: int = 64 * 1024,
    media: Any = None,
) -> ApiWorld:
    routes = Open311Routes(
        Open311Service(requests),
        ApiKeys(clock),
        storage,
        KeyRateLimiter(rate_per_minute),
        media=media,
    )
    server = Open311Server(routes, max_body=max_body)
    await server.start("127.0.0.1", 0)
    write_key = await make_key(storage, clock, "back-office", ApiScope.WRITE)
    read_key = await make_key(storage, clock, "dashboard", ApiScope.READ)
    return ApiWorld(
        storage,
        clock,
        requests,
        server,
        aiohttp.ClientSession(),
        write_key,
        read_key,
    )
