"""Which stored photo references a chat of another channel can show (cards, relay)."""

from __future__ import annotations

from domain.identity import ChannelName
from domain.messages import photo_shown_in
from domain.texts import LANGUAGES, Texts

TELEGRAM, VIBER, CONSOLE = ChannelName.TELEGRAM, ChannelName.VIBER, ChannelName.CONSOLE


def test_a_file_id_only_in_its_own_channel_a_web_address_anywhere() -> None:
    assert photo_shown_in("AgACAgIAAxkBAAIB", taken_in=TELEGRAM, shown_in=TELEGRAM)
    assert not photo_shown_in("AgACAgIAAxkBAAIB", taken_in=TELEGRAM, shown_in=VIBER)
    assert photo_shown_in("https://dl-media.viber.com/p.jpg", taken_in=VIBER, shown_in=TELEGRAM)
    assert not photo_shown_in("console-photo-1", taken_in=CONSOLE, shown_in=TELEGRAM)


def test_a_photo_the_bot_kept_is_shown_anywhere() -> None:
    kept = "media:" + "ab" * 32 + ".jpg"
    assert photo_shown_in(kept, taken_in=VIBER, shown_in=TELEGRAM)
    assert photo_shown_in(kept, taken_in=VIBER, shown_in=VIBER)


def test_every_channel_has_a_name_in_every_language() -> None:
    texts = Texts.load()
    for language in LANGUAGES:
        names = [texts.get(language, f"req_channel_{channel.value}") for channel in ChannelName]
        assert all(names), language
        assert len(set(names)) == len(names), names
