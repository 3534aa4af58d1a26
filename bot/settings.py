"""Every setting of the bot, read once from the environment or ``.env`` (see .env.example)."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.errors import ConfigurationError
from storage.url import DEFAULT_DATABASE_URL, is_postgres_url, sqlite_path

TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")

_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | float | int | timedelta) -> timedelta:
    """Seconds (``86400``) or a simple ISO 8601 duration (``PT24H``, ``P1D``, ``PT90S``)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    text = value.strip().upper()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    match = _ISO_DURATION.match(text)
    if not match or text in {"P", "PT"}:
        raise ValueError(f"not a duration (seconds or ISO 8601 like PT24H): {value!r}")
    parts = {name: float(v) for name, v in match.groupdict().items() if v}
    return timedelta(**parts)


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """``22:00-08:00`` -> (start, end); empty disables quiet hours."""
    text = value.strip()
    if not text:
        return None
    try:
        start_text, end_text = text.split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError as error:
        raise ValueError(f"QUIET_HOURS must look like 22:00-08:00, got {value!r}") from error
    if start == end:
        raise ValueError("QUIET_HOURS start and end must differ")
    return start, end


class Settings(BaseSettings):
    """The bot's configuration; names are the contract names of DESIGN.md."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    staff_chat_id: int | None = None
    operator_ids: Annotated[frozenset[int], NoDecode] = frozenset()

    viber_token: SecretStr | None = None
    viber_api_url: str = "https://chatapi.viber.com/pa"
    viber_bot_name: str = Field(default="Контакт-центр 1520", max_length=28)

    webhook_base_url: str | None = None
    webhook_port: int = 8080
    webhook_host: str = "0.0.0.0"  # noqa: S104 - a webhook server must listen beyond loopback

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL only: connections the process keeps open at most; at least 2, so a long
    # read-only snapshot never keeps a transaction waiting for a connection.
    database_pool_size: int = Field(default=5, ge=2, le=100)
    # Photos the bot keeps itself (a Viber picture's URL expires): MEDIA_DIR (empty: media/
    # beside the SQLite file), at most MEDIA_MAX_BYTES each; JPEG, PNG, WebP or GIF only.
    media_dir: Path | None = None
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    timezone: str = "Europe/Kyiv"
    followup_delay: Annotated[timedelta, NoDecode] = timedelta(hours=24)
    quiet_hours: str = "22:00-08:00"
    # Delivery of what the bot says first (notifications/): Telegram's limits, bounded retries.
    rate_limit_total_per_second: float = Field(default=30.0, gt=0)
    rate_limit_per_chat_per_second: float = Field(default=1.0, gt=0)
    rate_limit_per_group_per_minute: float = Field(default=20.0, gt=0)
    delivery_max_attempts: int = Field(default=8, ge=1)
    # Sends in flight at once; a crash can repeat at most this many (1: at most one per crash).
    delivery_concurrency: int = Field(default=16, ge=1)
    followup_reminder_after: Annotated[timedelta, NoDecode] = timedelta(hours=24)
    followup_answer_days: int = Field(default=7, ge=1)
    digest_time: time = time(8, 0)
    viber_proactive_policy: Literal["always", "window", "never"] = "window"

    shelters_csv: Path | None = None
    # The city's area: a shared location farther than CITY_RADIUS_KM from CITY_CENTER
    # ("latitude,longitude") is told it is outside the city instead of getting far shelters.
    city_center: Annotated[tuple[float, float], NoDecode] = (47.91, 33.39)
    city_radius_km: float = Field(default=40.0, gt=0, le=1000)
    # The routing of requests (executors, deadline classes); default: services/routing.yaml.
    routing_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # Operations endpoints (/healthz, /readyz, /metrics) on a listener of their own; no port: off.
    ops_host: str = "127.0.0.1"
    ops_port: int | None = Field(default=8081, ge=1, le=65535)
    # The Open311 GeoReport v2 API (paths under /open311/v2/) on a listener of its own; no
    # port: off. API_RATE_LIMIT calls a minute per key; API_MAX_BODY bytes per POST;
    # API_PUBLIC_URL (e.g. https://api.example.org) for the photo links it returns.
    api_host: str = "127.0.0.1"
    api_port: int | None = Field(default=None, ge=1, le=65535)
    api_rate_limit: float = Field(default=120.0, gt=0)
    api_max_body: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    api_public_url: str | None = None
    # Backups: a daily consistent copy at BACKUP_TIME into BACKUP_DIR (off when empty), keeping
    # the newest BACKUP_KEEP; delivered outbox bodies, update keys and finished conversation
    # state older than RETENTION_DAYS are removed (statistics are kept).
    backup_dir: Path | None = None
    backup_time: time = time(3, 30)
    backup_keep: int = Field(default=7, ge=1)
    retention_days: int = Field(default=30, ge=1)
    # Graceful shutdown: how long in-flight updates and sends may finish after SIGTERM.
    shutdown_grace: float = Field(default=10.0, gt=0)
    # Several instances on one database: one of them (elected by a lock) delivers the outbox and
    # runs the scheduled jobs; when it dies another takes over within LEADER_TIMEOUT seconds.
    leader_timeout: float = Field(default=15.0, ge=1)
    # A message being sent is leased to its process for OUTBOX_LEASE_SECONDS (renewed while it
    # sends): what a dead process left in flight is sent again once its lease runs out.
    outbox_lease_seconds: float = Field(default=60.0, ge=1)

    @field_validator("telegram_token", "viber_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "staff_chat_id",
        "webhook_base_url",
        "shelters_csv",
        "routing_file",
        "ops_port",
        "api_port",
        "api_public_url",
        "backup_dir",
        "media_dir",
        mode="before",
    )
    @classmethod
    def _empty_optional(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_token")
    @classmethod
    def _telegram_token(cls, value: SecretStr | None) -> SecretStr | None:
        # The shape BotFather gives (what aiogram checks when the bot is created, with a
        # traceback): digits, a colon, then letters, digits, '-' or '_'.
        if value is not None and not TELEGRAM_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("not a Telegram bot token (the form is 123456789:AAE...)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if is_postgres_url(value):
            return value  # libpq reads the rest; a bad one fails with one line when opened
        try:
            sqlite_path(value)
        except ConfigurationError as error:
            raise ValueError(str(error)) from error
        return value

    @field_validator("operator_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            try:
                return frozenset(int(part) for part in parts)
            except ValueError as error:
                raise ValueError("OPERATOR_IDS must be comma-separated numbers") from error
        return value

    @field_validator("followup_delay", "followup_reminder_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str | int | float):
            return parse_duration(value)
        return value

    @field_validator("city_center", mode="before")
    @classmethod
    def _split_point(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if len(parts) != 2:
                raise ValueError("CITY_CENTER must be latitude,longitude (47.91,33.39)")
            try:
                return (float(parts[0]), float(parts[1]))
            except ValueError as error:
                raise ValueError("CITY_CENTER must be latitude,longitude (47.91,33.39)") from error
        return value

    @field_validator("city_center")
    @classmethod
    def _point(cls, value: tuple[float, float]) -> tuple[float, float]:
        latitude, longitude = value
        if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
            raise ValueError(f"CITY_CENTER is not a point on Earth: {latitude},{longitude}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @field_validator("telegram_api_url", "viber_api_url", "webhook_base_url", "api_public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def quiet(self) -> tuple[time, time] | None:
        return parse_quiet_hours(self.quiet_hours)
