"""Datetimes in SQLite: stored as UTC ISO 8601 text, read back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to storage")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def required_time(text: str) -> datetime:
    moment = from_db_time(text)
    assert moment is not None
    return moment
