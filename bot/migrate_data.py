"""``python -m bot migrate-data --from sqlite:///... --to postgresql://... [--media-to DIR]``.

Moves a SQLite database into an empty PostgreSQL database (:mod:`storage.transfer` does the
work and says how). This module reads the command line, prints the progress, the summary and
what is left to do, and turns the outcome into an exit code: 0 moved; 2 a wrong command line
or a refusal (nothing was written: a missing file, a schema version that differs, a target that
is not empty); 1 a failure (the server cannot be reached, a row PostgreSQL will not take): the
target's transaction was rolled back, so it holds its migrated, empty tables and nothing else.

Photos are files, not rows (``MEDIA_DIR``, by default ``media/`` beside the SQLite file and
``data/media`` in the working directory with PostgreSQL). Without ``--media-to`` the summary
says where they are, how many, and where the bot on PostgreSQL will look for them; with
``--media-to DIR`` they are copied there after the database has been committed. Copying is
optional because the right place depends on the deployment (another host, a shared volume for
several instances), and an operator who moves them with their own tools (``rsync``) needs
nothing from us but the two paths.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

from bot.settings import Settings
from domain.media import is_media_ref
from domain.requests import format_number
from storage.errors import ConfigurationError
from storage.media import copy_media, default_media_dir
from storage.transfer import TableCopy, TransferFailed, TransferRefused, target_name, transfer
from storage.url import is_postgres_url, sqlite_path

__all__ = ["USAGE", "run_migrate_data"]

USAGE = (
    "usage: python -m bot migrate-data --from sqlite:///path/bot.sqlite3"
    " --to postgresql://user@host:port/db [--media-to DIR]"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # raises instead of exiting
        raise ValueError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bot migrate-data", add_help=False)
    parser.add_argument("--from", dest="source", required=True, metavar="URL")
    parser.add_argument("--to", dest="target", required=True, metavar="URL")
    parser.add_argument("--media-to", dest="media_to", type=Path, metavar="DIR")
    return parser


def _print_table(table: TableCopy) -> None:
    print(f"  {table.name:<26} {table.rows:>9} rows", flush=True)


def _media_note(settings: Settings, source_url: str, target_url: str, media_to: Path | None) -> str:
    source = settings.media_dir or default_media_dir(source_url)
    listed = sorted(source.iterdir()) if source.is_dir() else []
    files = [path for path in listed if is_media_ref("media:" + path.name) and path.is_file()]
    if media_to is not None:
        copied, present = copy_media(source, media_to)
        return (
            f"media: copied {copied} photo files from {source} to {media_to}"
            f" ({present} were there already); start the bot with MEDIA_DIR={media_to}"
        )
    if not files:
        return f"media: no kept photos in {source}: nothing to copy"
    target = settings.media_dir or default_media_dir(target_url)
    size = sum(path.stat().st_size for path in files)
    if target.resolve() == source.resolve():
        return (
            f"media: {len(files)} photo files ({size} bytes) stay in {source}, where the bot"
            " on PostgreSQL looks for them too"
        )
    return (
        f"media: {len(files)} photo files ({size} bytes) in {source} are not in the database."
        f" The bot on PostgreSQL looks in {target} (MEDIA_DIR): copy them there"
        f" (cp -a {source}/. {target}/) or start it with MEDIA_DIR={source}"
    )


def _migrate(arguments: argparse.Namespace, settings: Settings) -> int:
    if not arguments.source.startswith("sqlite:///"):
        raise TransferRefused(
            "--from must be a SQLite URL: sqlite:///relative/path or sqlite:////absolute/path"
        )
    if not is_postgres_url(arguments.target):
        raise TransferRefused("--to must be a PostgreSQL URL: postgresql://user@host:port/db")
    try:
        source = sqlite_path(arguments.source)
    except ConfigurationError as error:
        raise TransferRefused(f"--from: {error}") from error
    where = target_name(arguments.target)

    def snapshot_taken(in_use: bool) -> None:
        print(f"snapshot of {source} taken; copying into PostgreSQL at {where}:", flush=True)
        if in_use:
            print(
                f"warning: a bot has {source} open: what it writes from now on is not moved."
                " Stop every bot process before the final move.",
                file=sys.stderr,
                flush=True,
            )

    result = transfer(
        source, arguments.target, on_table=_print_table, snapshot_taken=snapshot_taken
    )
    requests = next((table for table in result.tables if table.name == "requests"), None)
    print(
        f"committed: {result.rows} rows in {len(result.tables)} tables (schema"
        f" {result.schema_version}) in {result.seconds:.1f} s; every table's row count matches"
        " the snapshot's; identity sequences continue after the highest ids"
    )
    if requests is not None and requests.next_id is not None:
        print(f"the next request will be {format_number(requests.next_id)}")
    print(
        f"snapshot taken at {result.snapshot_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        + (" while a bot was running on it" if result.source_in_use else "")
    )
    try:
        print(_media_note(settings, arguments.source, arguments.target, arguments.media_to))
    except OSError as error:
        print(
            f"migrate-data: the database was moved, but copying the photos failed: {error}",
            file=sys.stderr,
        )
        return 1
    print("then: set DATABASE_URL to the PostgreSQL URL and start the bot")
    return 0


def run_migrate_data(args: Sequence[str], settings: Settings) -> int:
    """The exit code of ``python -m bot migrate-data ARGS``."""
    try:
        arguments = _parser().parse_args(list(args))
    except ValueError as error:
        print(f"{USAGE}   ({error})", file=sys.stderr)
        return 2
    # Each migration applied to the target would be a log line on stderr: the summary says
    # which schema the target has, and errors stay one line.
    logging.getLogger("storage.postgres.database").setLevel(logging.WARNING)
    try:
        return _migrate(arguments, settings)
    except TransferRefused as error:
        print(f"migrate-data refused: {error}", file=sys.stderr)
        return 2
    except TransferFailed as error:
        print(f"migrate-data failed: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"migrate-data failed: {error}", file=sys.stderr)
        return 1
