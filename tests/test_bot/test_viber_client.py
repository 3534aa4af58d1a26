"""``ViberClient`` against the fake Viber REST server: headers, answers and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.viber.client import ViberClient
from bot.viber.errors import ViberApiError, ViberRecipientBlocked
from domain.channel import PermanentFailure, RecipientBlocked, RetryAfter, TemporaryFailure
from fakes.viber_api import DEFAULT_TOKEN, FakeViberServer, Fault

USER = "01234567890A="
TEXT = {"type": "text", "text": "Заявку прийнято"}


@pytest.fixture
async def viber() -> AsyncIterator[FakeViberServer]:
    async with FakeViberServer() as server:
        yield server


@pytest.fixture
async def client(viber: FakeViberServer) -> AsyncIterator[ViberClient]:
    async with ViberClient(
        DEFAULT_TOKEN, sender_name="Контакт-центр 1520", base_url=viber.base_url, timeout=5
    ) as client:
        yield client


async def test_send_message_returns_the_message_token(
    viber: FakeViberServer, client: ViberClient
) -> None:
    token = await client.send_message(USER, TEXT)
    assert token.isdigit()
    (call,) = viber.calls_to("send_message")
    assert call.auth_token == DEFAULT_TOKEN
    assert call.body == {**TEXT, "receiver": USER, "sender": {"name": "Контакт-центр 1520"}}
    assert "auth_token" not in call.body  # the token travels in the header only


async def test_a_message_with_its_own_sender_keeps_it(
    viber: FakeViberServer, client: ViberClient
) -> None:
    await client.send_message(USER, {**TEXT, "sender": {"name": "1520"}})
    assert viber.sent[0]["sender"] == {"name": "1520"}


async def test_the_sender_name_is_cut_to_28_characters(viber: FakeViberServer) -> None:
    async with ViberClient(DEFAULT_TOKEN, sender_name="x" * 40, base_url=viber.base_url) as c:
        await c.send_message(USER, TEXT)
    assert viber.sent[0]["sender"]["name"] == "x" * 28


async def test_a_message_without_any_sender_is_refused_before_sending(
    viber: FakeViberServer,
) -> None:
    async with ViberClient(DEFAULT_TOKEN, base_url=viber.base_url) as c:
        with pytest.raises(ValueError, match="sender"):
            await c.send_message(USER, TEXT)
    assert viber.calls == []


async def test_a_wrong_token_is_a_permanent_failure_despite_http_200(
    viber: FakeViberServer,
) -> None:
    async with ViberClient("wrong", sender_name="1520", base_url=viber.base_url) as c:
        with pytest.raises(ViberApiError) as caught:
            await c.send_message(USER, TEXT)
    assert caught.value.status == 2
    assert caught.value.status_name == "invalidAuthToken"
    assert isinstance(caught.value, PermanentFailure)
    assert "wrong" not in str(caught.value)


async def test_a_nonzero_status_is_a_permanent_failure(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.fail_next(Fault(status=7, status_message="publicAccountBlocked"))
    with pytest.raises(PermanentFailure) as caught:
        await client.send_message(USER, TEXT)
    assert isinstance(caught.value, ViberApiError)
    assert caught.value.status_name == "publicAccountBlocked"
    assert caught.value.status_message == "publicAccountBlocked"


async def test_an_invalid_message_is_bad_data(viber: FakeViberServer, client: ViberClient) -> None:
    with pytest.raises(ViberApiError) as caught:
        await client.send_message(USER, {"type": "text", "text": "x" * 7001})
    assert caught.value.status == 3


async def test_an_undocumented_status_is_a_general_error(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.fail_next(Fault(status=99))
    with pytest.raises(ViberApiError) as caught:
        await client.send_message(USER, TEXT)
    assert caught.value.status_name == "generalError"


async def test_an_unsubscribed_receiver_is_blocked(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.unsubscribe(USER)
    with pytest.raises(RecipientBlocked) as caught:
        await client.send_message(USER, TEXT)
    assert isinstance(caught.value, ViberRecipientBlocked)
    assert caught.value.status == 6


async def test_a_receiver_not_registered_is_blocked(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.fail_next(Fault(status=5, status_message="receiverNotRegistered"))
    with pytest.raises(RecipientBlocked):
        await client.send_message(USER, TEXT)


async def test_too_many_requests_status_asks_to_retry_later(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.fail_next(Fault(status=12, status_message="tooManyRequests"))
    with pytest.raises(RetryAfter) as caught:
        await client.send_message(USER, TEXT)
    assert caught.value.seconds > 0


async def test_http_429_uses_retry_after(viber: FakeViberServer, client: ViberClient) -> None:
    viber.fail_next(Fault(http_status=429, retry_after="17"))
    with pytest.raises(RetryAfter) as caught:
        await client.send_message(USER, TEXT)
    assert caught.value.seconds == 17


async def test_http_429_without_a_usable_header_uses_the_default(viber: FakeViberServer) -> None:
    viber.fail_next(Fault(http_status=429), Fault(http_status=429, retry_after="soon"))
    async with ViberClient(
        DEFAULT_TOKEN, sender_name="1520", base_url=viber.base_url, default_retry_after=3
    ) as c:
        for _ in range(2):
            with pytest.raises(RetryAfter) as caught:
                await c.send_message(USER, TEXT)
            assert caught.value.seconds == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_5xx_is_temporary(
    viber: FakeViberServer, client: ViberClient, status: int
) -> None:
    viber.fail_next(Fault(http_status=status))
    with pytest.raises(TemporaryFailure):
        await client.send_message(USER, TEXT)


async def test_http_404_is_permanent(viber: FakeViberServer, client: ViberClient) -> None:
    viber.fail_next(Fault(http_status=404))
    with pytest.raises(PermanentFailure):
        await client.send_message(USER, TEXT)


async def test_a_timeout_is_temporary(viber: FakeViberServer) -> None:
    viber.fail_next(Fault(hang=True))
    async with ViberClient(
        DEFAULT_TOKEN, sender_name="1520", base_url=viber.base_url, timeout=0.2
    ) as c:
        with pytest.raises(TemporaryFailure, match="timed out"):
            await c.send_message(USER, TEXT)


async def test_a_refused_connection_is_temporary(viber: FakeViberServer) -> None:
    base_url = viber.base_url
    await viber.close()
    async with ViberClient(DEFAULT_TOKEN, sender_name="1520", base_url=base_url) as c:
        with pytest.raises(TemporaryFailure):
            await c.send_message(USER, TEXT)


async def test_the_client_recovers_after_a_fault(
    viber: FakeViberServer, client: ViberClient
) -> None:
    viber.fail_next(Fault(http_status=503))
    with pytest.raises(TemporaryFailure):
        await client.send_message(USER, TEXT)
    assert await client.send_message(USER, TEXT)
    assert len(viber.sent) == 1


async def test_set_and_remove_webhook(viber: FakeViberServer, client: ViberClient) -> None:
    events = await client.set_webhook("https://bot.example/viber", ["message", "subscribed"])
    assert events == ["message", "subscribed"]
    assert viber.webhook_url == "https://bot.example/viber"
    assert viber.calls_to("set_webhook")[0].body["send_name"] is True
    await client.remove_webhook()
    assert viber.webhook_url is None


async def test_set_webhook_to_a_plain_http_url_is_refused(client: ViberClient) -> None:
    with pytest.raises(ViberApiError) as caught:
        await client.set_webhook("http://bot.example/viber")
    assert caught.value.status_name == "invalidUrl"


async def test_account_info_and_user_details(viber: FakeViberServer, client: ViberClient) -> None:
    viber.add_user(USER, name="Олена")
    info = await client.get_account_info()
    assert info["status"] == 0
    assert info["name"] == "Контакт-центр 1520"
    user = await client.get_user_details(USER)
    assert user["id"] == USER
    assert user["language"] == "uk"
    with pytest.raises(RecipientBlocked):
        await client.get_user_details("unknown=")


async def test_a_session_passed_in_is_left_open(viber: FakeViberServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = ViberClient(
            DEFAULT_TOKEN, sender_name="1520", base_url=viber.base_url, session=session
        )
        await client.send_message(USER, TEXT)
        await client.close()
        assert not session.closed


def test_the_token_stays_out_of_repr() -> None:
    assert DEFAULT_TOKEN not in repr(ViberClient(DEFAULT_TOKEN, sender_name="1520"))
