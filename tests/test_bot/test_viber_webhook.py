"""The Viber webhook on a real aiohttp server, with signed callbacks and a fake Viber REST API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.viber.channel import ViberChannel
from bot.viber.client import ViberClient
from bot.viber.render import MORE_PAYLOAD
from bot.viber.signature import sign
from bot.viber.webhook import VIBER_WEBHOOK, ViberWebhook, build_viber_app, setup_viber
from domain.identity import ChannelName, UserRef
from domain.messages import (
    Button,
    ButtonKind,
    Contact,
    Handled,
    Incoming,
    Kind,
    Location,
    Photo,
    Reply,
)
from fakes.viber_api import (
    DEFAULT_TOKEN,
    FakeViberServer,
    conversation_started_callback,
    delivered_callback,
    failed_callback,
    message_callback,
    seen_callback,
    signed_callback,
    subscribed_callback,
    unsubscribed_callback,
    webhook_callback,
)

USER = "01234567890A="
OTHER_USER = "ZYXWVUTSRQ0A="
CHAT = UserRef(ChannelName.VIBER, USER)
NAME = "Контакт-центр 1520"
MENU = ((Button("Меню", "v1:menu"), Button("Оператор", "v1:operator")),)

Handle = Callable[[Incoming], Awaitable[Handled | Sequence[Reply]]]


@dataclass
class Harness:
    """A webhook app on a test server, the fake Viber API, and what the callbacks reached."""

    viber: FakeViberServer
    http: TestClient[web.Request, web.Application]
    received: list[Incoming] = field(default_factory=list)
    subscriptions: list[tuple[UserRef, bool]] = field(default_factory=list)
    deliveries: list[tuple[str, str]] = field(default_factory=list)
    welcomed: list[tuple[UserRef, str | None]] = field(default_factory=list)
    # What the conversation answers; a test swaps it to script the conversation.
    respond: Handle | None = None
    welcome_broken: bool = False

    @property
    def webhook(self) -> ViberWebhook:
        return self.http.app[VIBER_WEBHOOK]

    async def post(
        self, body: dict[str, Any], *, token: str = DEFAULT_TOKEN, drain: bool = True
    ) -> ClientResponse:
        raw, headers = signed_callback(body, token)
        response = await self.http.post("/viber", data=raw, headers=headers)
        if drain:
            await self.webhook.drain()
        return response

    async def post_raw(self, raw: bytes, headers: dict[str, str]) -> ClientResponse:
        response = await self.http.post("/viber", data=raw, headers=headers)
        await self.webhook.drain()
        return response


def conversation(harness: Harness) -> Handle:
    """Records every ``Incoming``; echoes it unless the test scripted ``harness.respond``."""

    async def handle(incoming: Incoming) -> Handled | Sequence[Reply]:
        harness.received.append(incoming)
        if harness.respond is not None:
            return await harness.respond(incoming)
        said = incoming.text or incoming.payload or incoming.kind.value
        return [Reply(f"Ви написали: {said}", buttons=MENU)]

    return handle


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with (
        FakeViberServer() as viber,
        ViberClient(DEFAULT_TOKEN, base_url=viber.base_url) as client,
    ):
        app = web.Application()
        http: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
        h = Harness(viber=viber, http=http)

        async def on_subscription(user: UserRef, subscribed: bool) -> None:
            h.subscriptions.append((user, subscribed))

        async def on_delivery(message_token: str, event: str) -> None:
            h.deliveries.append((message_token, event))

        async def welcome(user: UserRef, context: str | None) -> list[Reply]:
            h.welcomed.append((user, context))
            if h.welcome_broken:
                raise RuntimeError("texts not loaded")
            return [Reply("Вітаємо! Це чат-бот контакт-центру 1520.", buttons=MENU)]

        setup_viber(
            app,
            token=DEFAULT_TOKEN,
            handle=conversation(h),
            channel=ViberChannel(client, NAME),
            on_subscription=on_subscription,
            on_delivery=on_delivery,
            welcome=welcome,
        )
        await http.start_server()
        try:
            yield h
        finally:
            await http.close()


# --- signatures and shapes -------------------------------------------------------------------


async def test_a_signed_text_is_answered_through_the_viber_api(harness: Harness) -> None:
    response = await harness.post(message_callback(USER, text="Де найближче укриття?"))
    assert response.status == 200
    (incoming,) = harness.received
    assert incoming.kind is Kind.TEXT
    assert incoming.text == "Де найближче укриття?"
    assert incoming.user == CHAT
    (sent,) = harness.viber.sent
    assert sent["receiver"] == USER
    assert sent["type"] == "text"
    assert sent["text"] == "Ви написали: Де найближче укриття?"
    assert sent["sender"] == {"name": NAME}
    assert [b["ActionBody"] for b in sent["keyboard"]["Buttons"]] == ["v1:menu", "v1:operator"]
    assert harness.viber.calls[0].auth_token == DEFAULT_TOKEN


async def test_an_unsigned_callback_is_forbidden_and_not_processed(harness: Harness) -> None:
    raw, _ = signed_callback(message_callback(USER, text="x"))
    response = await harness.post_raw(raw, {"Content-Type": "application/json"})
    assert response.status == 403
    assert harness.received == []
    assert harness.viber.calls == []


async def test_a_badly_signed_callback_is_forbidden_and_not_processed(harness: Harness) -> None:
    response = await harness.post(message_callback(USER, text="x"), token="not-our-token")
    assert response.status == 403
    raw, headers = signed_callback(message_callback(USER, text="x"))
    response = await harness.post_raw(raw + b" ", headers)
    assert response.status == 403
    assert harness.received == []
    assert harness.viber.calls == []


async def test_a_forged_welcome_is_not_answered(harness: Harness) -> None:
    response = await harness.post(conversation_started_callback(USER), token="forged")
    assert response.status == 403
    assert harness.welcomed == []


@pytest.mark.parametrize(
    "raw", [b"", b"{not json", b"[]", b'{"event": "message"}', b'{"timestamp": 1}']
)
async def test_a_signed_malformed_body_is_a_bad_request(harness: Harness, raw: bytes) -> None:
    _, headers = signed_callback({})
    headers["X-Viber-Content-Signature"] = signed_callback_signature(raw)
    response = await harness.post_raw(raw, headers)
    assert response.status == 400
    assert harness.received == []


def signed_callback_signature(raw: bytes) -> str:
    return sign(raw, DEFAULT_TOKEN)


async def test_only_post_is_served(harness: Harness) -> None:
    response = await harness.http.get("/viber")
    assert response.status == 405


async def test_the_webhook_check_is_acknowledged(harness: Harness) -> None:
    response = await harness.post(webhook_callback())
    assert response.status == 200
    assert harness.received == []


async def test_an_unknown_event_is_acknowledged_and_ignored(harness: Harness) -> None:
    response = await harness.post({"event": "client_status", "timestamp": 1})
    assert response.status == 200
    assert harness.received == []


# --- conversation_started -------------------------------------------------------------------


async def test_conversation_started_answers_with_the_welcome_message(harness: Harness) -> None:
    response = await harness.post(conversation_started_callback(USER, context="qr-shelter"))
    assert response.status == 200
    body = await response.json()
    assert body["type"] == "text"
    assert body["text"] == "Вітаємо! Це чат-бот контакт-центру 1520."
    assert body["sender"] == {"name": NAME}
    assert body["keyboard"]["Type"] == "keyboard"
    assert harness.welcomed == [(CHAT, "qr-shelter")]
    assert harness.viber.calls == []  # the welcome travels in the answer, not via send_message


async def test_conversation_started_without_welcome_is_a_plain_200() -> None:
    async with FakeViberServer() as viber, ViberClient(DEFAULT_TOKEN, base_url=viber.base_url) as c:

        async def handle(incoming: Incoming) -> list[Reply]:
            return []

        app = build_viber_app(token=DEFAULT_TOKEN, handle=handle, channel=ViberChannel(c, NAME))
        async with TestClient(TestServer(app)) as http:
            raw, headers = signed_callback(conversation_started_callback(USER))
            response = await http.post("/viber", data=raw, headers=headers)
            assert response.status == 200
            assert await response.read() == b""


async def test_a_failing_welcome_still_answers_200(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.welcome_broken = True
    response = await harness.post(conversation_started_callback(USER))
    assert response.status == 200
    assert await response.read() == b""
    assert "welcome" in caplog.text


# --- messages ----------------------------------------------------------------------------------


async def test_a_redelivered_message_token_is_processed_once(harness: Harness) -> None:
    body = message_callback(USER, text="Не горить світло", token=4912661846655238145)
    for _ in range(3):
        response = await harness.post(body)
        assert response.status == 200
    assert len(harness.received) == 1
    assert len(harness.viber.sent) == 1


async def test_the_same_token_is_processed_again_after_the_window() -> None:
    now = [1000.0]
    received: list[Incoming] = []

    async def handle(incoming: Incoming) -> list[Reply]:
        received.append(incoming)
        return []

    async with ViberClient(DEFAULT_TOKEN, base_url="http://127.0.0.1:1/pa") as client:
        webhook = ViberWebhook(
            token=DEFAULT_TOKEN,
            handle=handle,
            channel=ViberChannel(client, NAME),
            duplicate_window=300,
            monotonic=lambda: now[0],
        )
        app = web.Application()
        app.router.add_post("/viber", webhook.on_callback)
        async with TestClient(TestServer(app)) as http:
            raw, headers = signed_callback(message_callback(USER, text="x", token=7))
            for step in (0.0, 299.0, 301.0):
                now[0] += step
                await http.post("/viber", data=raw, headers=headers)
                await webhook.drain()
    assert len(received) == 2


async def test_a_button_press_arrives_as_a_button(harness: Harness) -> None:
    await harness.post(message_callback(USER, text="v1:operator"))
    (incoming,) = harness.received
    assert incoming.kind is Kind.BUTTON
    assert incoming.payload == "v1:operator"
    assert incoming.text is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            message_callback(USER, location=(47.9105, 33.3918)),
            {"kind": Kind.LOCATION, "location": Location(47.9105, 33.3918)},
        ),
        (
            message_callback(USER, contact="+380671234567", contact_name=None),
            {"kind": Kind.CONTACT, "contact": Contact("+380671234567", own=True)},
        ),
        (
            message_callback(USER, picture="https://dl-media.viber.com/a.jpg"),
            {"kind": Kind.PHOTO, "photo": Photo("https://dl-media.viber.com/a.jpg")},
        ),
    ],
)
async def test_location_contact_and_picture_map_correctly(
    harness: Harness, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = await harness.post(body)
    assert response.status == 200
    (incoming,) = harness.received
    for name, value in expected.items():
        assert getattr(incoming, name) == value
    assert incoming.update_key == f"viber:{body['message_token']}"


async def test_the_more_button_pages_the_keyboard_without_the_handler(harness: Harness) -> None:
    buttons = tuple((Button(f"Район {n}", f"v1:menu:{n}"),) for n in range(30))

    async def many(incoming: Incoming) -> list[Reply]:
        return [Reply("Оберіть район", buttons=buttons)]

    harness.respond = many
    await harness.post(message_callback(USER, text="райони"))
    await harness.post(message_callback(USER, text=MORE_PAYLOAD))
    assert len(harness.received) == 1
    second_page = harness.viber.sent[-1]["keyboard"]["Buttons"]
    assert [b["ActionBody"] for b in second_page] == [f"v1:menu:{n}" for n in range(23, 30)] + [
        MORE_PAYLOAD
    ]


async def test_a_share_location_button_reaches_viber_as_a_picker(harness: Harness) -> None:
    async def ask(incoming: Incoming) -> list[Reply]:
        button = Button("Надіслати геолокацію", kind=ButtonKind.SHARE_LOCATION)
        return [Reply("Де ви зараз?", buttons=((button,),))]

    harness.respond = ask
    await harness.post(message_callback(USER, text="укриття"))
    (sent,) = harness.viber.sent
    assert sent["keyboard"]["Buttons"][0]["ActionType"] == "location-picker"
    assert sent["min_api_version"] == 3


async def test_a_failing_handler_still_answers_200_and_later_messages_work(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def flaky(incoming: Incoming) -> list[Reply]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database is down")
        return [Reply("ok")]

    harness.respond = flaky
    assert (await harness.post(message_callback(USER, text="a"))).status == 200
    assert (await harness.post(message_callback(USER, text="b"))).status == 200
    assert [message["text"] for message in harness.viber.sent] == ["ok"]
    assert "database is down" in caplog.text


async def test_a_delivery_failure_is_logged_not_answered_with_an_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.viber.unsubscribe(USER)
    response = await harness.post(message_callback(USER, text="x"))
    assert response.status == 200
    assert "not delivered" in caplog.text


async def test_messages_of_one_person_are_processed_in_order(harness: Harness) -> None:
    gate, other_done = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def slow_first(incoming: Incoming) -> list[Reply]:
        order.append(f"start {incoming.text}")
        if incoming.text == "1":
            await gate.wait()
        order.append(f"end {incoming.text}")
        if incoming.text == "3":
            other_done.set()
        return []

    harness.respond = slow_first
    # Each callback is answered once it is processed: the posts wait, so they run as tasks.
    first = asyncio.create_task(harness.post(message_callback(USER, text="1"), drain=False))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(harness.post(message_callback(USER, text="2"), drain=False))
    third = asyncio.create_task(harness.post(message_callback(OTHER_USER, text="3"), drain=False))
    await other_done.wait()  # another person is not held up
    assert (await third).status == 200
    assert "start 2" not in order
    assert not first.done()  # not answered before it is processed
    gate.set()
    assert [(await first).status, (await second).status] == [200, 200]
    await harness.webhook.drain()
    assert order.index("end 1") < order.index("start 2")


async def test_logs_carry_ids_not_texts_or_phones(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(incoming: Incoming) -> list[Reply]:
        raise RuntimeError("boom")

    harness.respond = broken
    with caplog.at_level(logging.DEBUG):
        await harness.post(message_callback(USER, text="Моя адреса: вул. Тиха, 5"))
        await harness.post(message_callback(USER, contact="+380671234567"))
        await harness.post(message_callback(USER, text="x") | {"message": {"type": 1}})
    assert USER in caplog.text
    assert "Тиха" not in caplog.text
    assert "380671234567" not in caplog.text
    assert DEFAULT_TOKEN not in caplog.text


# --- subscriptions and delivery receipts -----------------------------------------------------


async def test_subscription_events_reach_on_subscription(harness: Harness) -> None:
    assert (await harness.post(subscribed_callback(USER))).status == 200
    assert (await harness.post(unsubscribed_callback(USER))).status == 200
    assert harness.subscriptions == [(CHAT, True), (CHAT, False)]


async def test_delivery_receipts_reach_on_delivery(harness: Harness) -> None:
    for body in (
        delivered_callback(5741311803571721087, USER),
        seen_callback(5741311803571721087, USER),
        failed_callback(5741311803571721088, USER),
    ):
        assert (await harness.post(body)).status == 200
    assert harness.deliveries == [
        ("5741311803571721087", "delivered"),
        ("5741311803571721087", "seen"),
        ("5741311803571721088", "failed"),
    ]


# --- lifecycle ---------------------------------------------------------------------------------


async def test_a_message_is_answered_only_after_it_is_processed_even_at_shutdown() -> None:
    gate, started = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def handle(incoming: Incoming) -> list[Reply]:
        started.set()
        await gate.wait()
        finished.append(incoming.text or "")
        return []

    async with ViberClient(DEFAULT_TOKEN, base_url="http://127.0.0.1:1/pa") as client:
        app = build_viber_app(
            token=DEFAULT_TOKEN, handle=handle, channel=ViberChannel(client, NAME)
        )
        http: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
        await http.start_server()
        raw, headers = signed_callback(message_callback(USER, text="x"))
        posted = asyncio.create_task(http.post("/viber", data=raw, headers=headers))
        await started.wait()
        assert not posted.done()  # no 200 while the message is not processed
        # The server stops listening and waits for the handler in flight.
        closing = asyncio.create_task(http.server.close())
        await asyncio.sleep(0.05)
        gate.set()
        assert (await posted).status == 200
        await closing
        await http.close()
    assert finished == ["x"]


async def test_a_busy_database_is_answered_503_and_the_redelivery_is_processed(
    harness: Harness,
) -> None:
    calls: list[str] = []

    async def busy_once(incoming: Incoming) -> Handled:
        calls.append(incoming.text or "")
        return Handled(committed=len(calls) > 1)

    harness.respond = busy_once
    body = message_callback(USER, text="x")
    assert (await harness.post(body)).status == 503
    assert (await harness.post(body)).status == 200  # Viber's retry: the same token
    assert calls == ["x", "x"]


async def test_close_cancels_sends_that_outlive_the_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = asyncio.Event()

    async def stuck_send(self: ViberChannel, chat: object, replies: object) -> list[object]:
        started.set()
        await asyncio.Event().wait()
        return []

    async def handle(incoming: Incoming) -> list[Reply]:
        return [Reply("hello")]

    monkeypatch.setattr(ViberChannel, "send", stuck_send)
    async with ViberClient(DEFAULT_TOKEN, base_url="http://127.0.0.1:1/pa") as client:
        webhook = ViberWebhook(
            token=DEFAULT_TOKEN,
            handle=handle,
            channel=ViberChannel(client, NAME),
            shutdown_grace=0,
        )
        app = web.Application()
        app.router.add_post("/viber", webhook.on_callback)
        async with TestClient(TestServer(app)) as http:
            raw, headers = signed_callback(message_callback(USER, text="x"))
            assert (await http.post("/viber", data=raw, headers=headers)).status == 200
            await started.wait()
            assert webhook.pending == 1
            await webhook.close()
    assert webhook.pending == 0


def test_setup_viber_refuses_a_second_registration() -> None:
    async def handle(incoming: Incoming) -> list[Reply]:
        return []

    app = web.Application()
    channel = ViberChannel(ViberClient(DEFAULT_TOKEN), NAME)
    setup_viber(app, token=DEFAULT_TOKEN, handle=handle, channel=channel)
    with pytest.raises(RuntimeError):
        setup_viber(app, token=DEFAULT_TOKEN, handle=handle, channel=channel, path="/v2")


# --- property: a validly signed body never causes a 5xx ---------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
EVENTS = st.sampled_from(
    [
        "message",
        "conversation_started",
        "subscribed",
        "unsubscribed",
        "delivered",
        "seen",
        "failed",
        "webhook",
        "client_status",
    ]
)
MESSAGE_TYPES = st.sampled_from(
    ["text", "picture", "location", "contact", "file", "sticker", "video", "url", "rich_media", "x"]
)
USERS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=6) | JSON_VALUES,
        "name": JSON_VALUES,
        "language": JSON_VALUES,
    },
)
MESSAGES = st.fixed_dictionaries(
    {"type": MESSAGE_TYPES | JSON_VALUES},
    optional={
        "text": st.text(max_size=20) | st.just("v1:menu") | JSON_VALUES,
        "media": st.just("https://x.test/p.jpg") | JSON_VALUES,
        "location": st.fixed_dictionaries({}, optional={"lat": JSON_VALUES, "lon": JSON_VALUES}),
        "contact": st.fixed_dictionaries({}, optional={"phone_number": JSON_VALUES}),
        "tracking_data": JSON_VALUES,
    },
)
SHAPED = st.fixed_dictionaries(
    {"event": EVENTS | JSON_VALUES},
    optional={
        "timestamp": JSON_VALUES,
        "message_token": st.integers() | JSON_VALUES,
        "sender": USERS,
        "user": USERS,
        "user_id": st.text(max_size=6) | JSON_VALUES,
        "message": MESSAGES,
        "context": JSON_VALUES,
    },
)
VALID = st.sampled_from(
    [
        message_callback(USER, text="Привіт"),
        message_callback(USER, text="v1:menu"),
        message_callback(USER, location=(47.9, 33.4)),
        message_callback(USER, contact="+380671234567"),
        message_callback(USER, picture="https://dl-media.viber.com/a.jpg"),
        conversation_started_callback(USER, context="qr"),
        subscribed_callback(USER),
        unsubscribed_callback(USER),
        delivered_callback(1, USER),
    ]
)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        found.append((*prefix, key))
        found.extend(_paths(inner, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A real callback with one field dropped or replaced by any JSON value (or left alone)."""
    body: dict[str, Any] = json.loads(json.dumps(draw(VALID)))
    path = draw(st.sampled_from(_paths(body)))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["keep", "drop", "replace"]))
    if action == "drop":
        del parent[path[-1]]
    elif action == "replace":
        parent[path[-1]] = draw(JSON_VALUES)
    return body


MUTATED_BODIES = mutated().map(lambda body: json.dumps(body).encode())
BODIES = st.one_of(
    MUTATED_BODIES,
    MUTATED_BODIES,  # twice: near-valid callbacks reach the deepest code
    SHAPED.map(lambda body: json.dumps(body).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
)


async def _post_signed(raw: bytes) -> int:
    async with FakeViberServer() as viber, ViberClient(DEFAULT_TOKEN, base_url=viber.base_url) as c:

        async def handle(incoming: Incoming) -> list[Reply]:
            return [Reply(incoming.text or incoming.payload or "ok", buttons=MENU)]

        async def welcome(user: UserRef, context: str | None) -> list[Reply]:
            return [Reply(f"Вітаємо {context}")]

        async def record(*args: object) -> None:
            return None

        app = build_viber_app(
            token=DEFAULT_TOKEN,
            handle=handle,
            channel=ViberChannel(c, NAME),
            on_subscription=record,
            on_delivery=record,
            welcome=welcome,
        )
        async with TestClient(TestServer(app)) as http:
            response = await http.post(
                "/viber",
                data=raw,
                headers={"X-Viber-Content-Signature": signed_callback_signature(raw)},
            )
            await app[VIBER_WEBHOOK].drain()
            return response.status


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=BODIES)
def test_a_validly_signed_body_never_causes_a_server_error(raw: bytes) -> None:
    status = asyncio.run(_post_signed(raw))
    assert status in {200, 400}
