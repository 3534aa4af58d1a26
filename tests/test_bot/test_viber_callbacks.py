"""Parsing Viber callbacks at the trust boundary and mapping messages onto ``Incoming``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.viber.callbacks import (
    ConversationStartedEvent,
    DeliveredEvent,
    FailedEvent,
    MessageEvent,
    OtherMessage,
    SeenEvent,
    SubscribedEvent,
    UnknownEvent,
    UnsubscribedEvent,
    WebhookEvent,
    parse_callback,
    to_incoming,
)
from bot.viber.errors import ViberCallbackError
from domain.identity import ChannelName, UserRef
from domain.messages import Contact, Kind, Location, Photo
from fakes.viber_api import (
    conversation_started_callback,
    delivered_callback,
    failed_callback,
    message_callback,
    seen_callback,
    subscribed_callback,
    unsubscribed_callback,
    webhook_callback,
)

USER = "01234567890A="


def parse(body: dict[str, Any]) -> Any:
    return parse_callback(json.dumps(body).encode())


def test_every_documented_event_parses_to_its_model() -> None:
    assert isinstance(parse(webhook_callback()), WebhookEvent)
    assert isinstance(parse(conversation_started_callback(USER)), ConversationStartedEvent)
    assert isinstance(parse(subscribed_callback(USER)), SubscribedEvent)
    assert isinstance(parse(unsubscribed_callback(USER)), UnsubscribedEvent)
    assert isinstance(parse(message_callback(USER)), MessageEvent)
    assert isinstance(parse(delivered_callback(1, USER)), DeliveredEvent)
    assert isinstance(parse(seen_callback(1, USER)), SeenEvent)
    assert isinstance(parse(failed_callback(1, USER)), FailedEvent)


def test_a_text_message_becomes_a_text_incoming() -> None:
    body = message_callback(USER, text="Не працює ліфт", token=4912661846655238145)
    incoming = to_incoming(parse(body))
    assert incoming is not None
    assert incoming.user == UserRef(ChannelName.VIBER, USER)
    assert incoming.kind is Kind.TEXT
    assert incoming.text == "Не працює ліфт"
    assert incoming.payload is None
    assert incoming.update_key == "viber:4912661846655238145"
    assert incoming.display_name == "Олена"
    assert incoming.language_hint == "uk"


def test_a_button_press_arrives_as_its_payload() -> None:
    incoming = to_incoming(parse(message_callback(USER, text="v1:req_new")))
    assert incoming is not None
    assert incoming.kind is Kind.BUTTON
    assert incoming.payload == "v1:req_new"
    assert incoming.text is None


def test_tracking_data_is_accepted_and_not_relied_on() -> None:
    body = message_callback(USER, text="v1:menu", tracking_data='{"step":"x"}')
    incoming = to_incoming(parse(body))
    assert incoming is not None
    assert incoming.payload == "v1:menu"


def test_a_location_message_maps_to_a_location() -> None:
    incoming = to_incoming(parse(message_callback(USER, location=(47.9105, 33.3918))))
    assert incoming is not None
    assert incoming.kind is Kind.LOCATION
    assert incoming.location == Location(latitude=47.9105, longitude=33.3918)


def test_a_contact_message_maps_to_an_own_contact() -> None:
    incoming = to_incoming(parse(message_callback(USER, contact="+380671234567")))
    assert incoming is not None
    assert incoming.kind is Kind.CONTACT
    assert incoming.contact == Contact(phone="+380671234567", own=True, name="Олена")


def test_a_picture_maps_to_a_photo_with_its_media_url() -> None:
    url = "https://dl-media.viber.com/1/share/2/long/bots/generic-message/media/photo.jpg"
    body = message_callback(USER, picture=url, caption="яма на дорозі")
    incoming = to_incoming(parse(body))
    assert incoming is not None
    assert incoming.kind is Kind.PHOTO
    assert incoming.photo == Photo(ref=url, caption="яма на дорозі")
    assert incoming.text == "яма на дорозі"


def test_a_picture_without_caption_has_no_text() -> None:
    incoming = to_incoming(parse(message_callback(USER, picture="https://x.test/p.jpg")))
    assert incoming is not None
    assert incoming.photo == Photo(ref="https://x.test/p.jpg", caption=None)
    assert incoming.text is None


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"type": "sticker", "sticker_id": 46105}, Kind.STICKER),
        ({"type": "video", "media": "https://x.test/v.mp4", "size": 10}, Kind.VIDEO),
        ({"type": "file", "media": "https://x.test/f", "file_name": "a.pdf"}, Kind.DOCUMENT),
        ({"type": "rich_media", "rich_media": {"Type": "rich_media"}}, Kind.OTHER),
        ({"type": "poll", "question": "?"}, Kind.OTHER),
    ],
)
def test_other_message_types_map_to_their_kind(message: dict[str, Any], kind: Kind) -> None:
    incoming = to_incoming(parse(message_callback(USER, message=message)))
    assert incoming is not None
    assert incoming.kind is kind
    assert incoming.text is None


def test_an_unknown_message_type_is_kept_as_other() -> None:
    event = parse(message_callback(USER, message={"type": "poll"}))
    assert isinstance(event, MessageEvent)
    assert isinstance(event.message, OtherMessage)


def test_a_url_message_arrives_as_text() -> None:
    body = message_callback(USER, message={"type": "url", "media": "https://kr.gov.ua"})
    incoming = to_incoming(parse(body))
    assert incoming is not None
    assert incoming.kind is Kind.TEXT
    assert incoming.text == "https://kr.gov.ua"


def test_a_missing_name_leaves_display_name_empty() -> None:
    incoming = to_incoming(parse(message_callback(USER, name=None)))
    assert incoming is not None
    assert incoming.display_name is None


def test_a_string_message_token_is_accepted() -> None:
    incoming = to_incoming(parse(message_callback(USER, text="x") | {"message_token": "abc"}))
    assert incoming is not None
    assert incoming.update_key == "viber:abc"


def test_events_other_than_message_carry_no_incoming() -> None:
    assert to_incoming(parse(subscribed_callback(USER))) is None
    assert to_incoming(parse(conversation_started_callback(USER))) is None


def test_an_unknown_event_is_ignored_not_rejected() -> None:
    event = parse({"event": "client_status", "timestamp": 1})
    assert isinstance(event, UnknownEvent)
    assert to_incoming(event) is None


def test_conversation_started_keeps_the_deep_link_context() -> None:
    event = parse(conversation_started_callback(USER, context="shelter"))
    assert isinstance(event, ConversationStartedEvent)
    assert event.context == "shelter"
    assert event.user.id == USER


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"event"',
        b"{}",
        b'{"event": 5}',
        b"[" * 100_000,
    ],
)
def test_bodies_that_are_not_callbacks_raise(raw: bytes) -> None:
    with pytest.raises(ViberCallbackError):
        parse_callback(raw)


def _broken(body: dict[str, Any], *path: str, value: Any = None, drop: bool = False) -> bytes:
    target = body
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _broken(message_callback(USER), "sender", drop=True),
        _broken(message_callback(USER), "sender", "id", value=""),
        _broken(message_callback(USER), "sender", "id", value=123),
        _broken(message_callback(USER), "message_token", drop=True),
        _broken(message_callback(USER), "message_token", value=True),
        _broken(message_callback(USER), "message_token", value=[1]),
        _broken(message_callback(USER), "message", drop=True),
        _broken(message_callback(USER), "message", "type", drop=True),
        _broken(message_callback(USER), "message", "text", value=None),
        _broken(message_callback(USER), "message", "text", value=42),
        _broken(message_callback(USER, location=(1, 2)), "message", "location", "lat", value=91),
        _broken(message_callback(USER, location=(1, 2)), "message", "location", "lon", value="x"),
        _broken(
            message_callback(USER, contact="+380"), "message", "contact", "phone_number", value=""
        ),
        _broken(message_callback(USER, picture="https://x"), "message", "media", drop=True),
        _broken(message_callback(USER), "message", "tracking_data", value={"a": 1}),
        _broken(conversation_started_callback(USER), "user", drop=True),
        _broken(unsubscribed_callback(USER), "user_id", drop=True),
        _broken(delivered_callback(1, USER), "message_token", value=None),
    ],
)
def test_callbacks_with_a_broken_shape_raise(raw: bytes) -> None:
    with pytest.raises(ViberCallbackError):
        parse_callback(raw)


def test_nan_coordinates_are_rejected() -> None:
    raw = b'{"event":"message","message_token":1,"sender":{"id":"u"},'
    raw += b'"message":{"type":"location","location":{"lat":NaN,"lon":1}}}'
    with pytest.raises(ViberCallbackError):
        parse_callback(raw)


def test_the_error_names_the_field_not_the_content() -> None:
    body = message_callback(USER, contact="+380671234567")
    body["message"]["contact"]["phone_number"] = ""
    with pytest.raises(ViberCallbackError) as caught:
        parse_callback(json.dumps(body).encode())
    assert "phone_number" in str(caught.value)
    assert "+380" not in str(caught.value)
