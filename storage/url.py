"""Reads ``DATABASE_URL`` (SQLAlchemy-style) into what a backend needs."""

from __future__ import annotations

from pathlib import Path

from storage.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///data/contact_center.sqlite3"

# The schemes that select the PostgreSQL backend (libpq reads the rest of the URL).
POSTGRES_SCHEMES = ("postgresql:", "postgres:")


def is_postgres_url(url: str) -> bool:
    """``postgresql://user@host:port/db`` (or ``postgres://``) selects PostgreSQL."""
    return url.startswith(POSTGRES_SCHEMES)


def sqlite_path(url: str, *, base: Path | None = None) -> Path:
    """``sqlite:///relative/path`` is relative to ``base`` (the working directory);
    ``sqlite:////absolute/path`` is absolute."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(
            f"unsupported DATABASE_URL scheme in {url.split(':', 1)[0]!r}: "
            "use sqlite:///relative/path, sqlite:////absolute/path"
            " or postgresql://user@host:port/db"
        )
    rest = url[len(prefix) :]
    if not rest or rest == "/":
        raise ConfigurationError("DATABASE_URL names no file")
    path = Path(rest)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path
