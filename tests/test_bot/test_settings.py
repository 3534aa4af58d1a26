"""Settings: .env.example documents every one; values are parsed and refused clearly."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import Settings, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_a_comment() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z_]+)=", text, flags=re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert lines[index - 1].startswith("#") or re.match(r"^[A-Z_]+=", lines[index - 1]), (
                line
            )


def test_defaults_match_the_design() -> None:
    settings = Settings(_env_file=None)
    assert settings.timezone == "Europe/Kyiv"
    assert settings.followup_delay == timedelta(hours=24)
    assert settings.quiet == (time(22, 0), time(8, 0))
    assert settings.viber_api_url == "https://chatapi.viber.com/pa"
    assert settings.telegram_token is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("86400", timedelta(days=1)),
        ("PT24H", timedelta(days=1)),
        ("PT90S", timedelta(seconds=90)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("2.5", timedelta(seconds=2.5)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("quiet_hours", "22-8"),
        ("operator_ids", "12,abc"),
        ("followup_delay", "tomorrow"),
        ("city_center", "47.91"),
        ("city_center", "95.0,33.39"),
        ("city_center", "north,east"),
        ("city_radius_km", "0"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    field: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(field.upper(), value)
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None)


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", "")
    monkeypatch.setenv("STAFF_CHAT_ID", "")
    monkeypatch.setenv("QUIET_HOURS", "")
    settings = Settings(_env_file=None)
    assert settings.telegram_token is None
    assert settings.staff_chat_id is None
    assert settings.quiet is None


def test_the_city_area_is_read_as_latitude_longitude(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).city_center == (47.91, 33.39)
    monkeypatch.setenv("CITY_CENTER", " 48.0 , 33.5 ")
    monkeypatch.setenv("CITY_RADIUS_KM", "25.5")
    settings = Settings(_env_file=None)
    assert settings.city_center == (48.0, 33.5)
    assert settings.city_radius_km == 25.5
