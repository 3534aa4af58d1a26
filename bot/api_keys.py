"""``python -m bot api-key create NAME --scope read|write | list | revoke NAME | audit``: the
keys of the Open311 API and its audit log.

``create`` prints the new key once (only its SHA-256 is stored: it cannot be shown again) and
then the line to give with it; ``list`` prints every key's name, scope, dates and state (never
a key); ``revoke`` stops a key at once; ``audit [--limit N]`` prints the newest writes (who,
when, what, the answer's status). Every error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.settings import Settings
from domain.clock import SystemClock
from services.open311_keys import ApiKeys, InvalidKeyName
from storage.open import open_storage
from storage.open311 import ApiScope, KeyNameTaken

__all__ = ["USAGE", "run_api_key"]

USAGE = (
    "usage: python -m bot api-key create NAME --scope read|write"
    " | python -m bot api-key list | python -m bot api-key revoke NAME"
    " | python -m bot api-key audit [--limit N]"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # raises instead of exiting
        raise ValueError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bot api-key", add_help=False)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", add_help=False)
    create.add_argument("name")
    create.add_argument("--scope", choices=[scope.value for scope in ApiScope], required=True)
    commands.add_parser("list", add_help=False)
    revoke = commands.add_parser("revoke", add_help=False)
    revoke.add_argument("name")
    audit = commands.add_parser("audit", add_help=False)
    audit.add_argument("--limit", type=int, default=50, choices=range(1, 10_001), metavar="N")
    return parser


async def _run(arguments: argparse.Namespace, settings: Settings) -> int:
    clock = SystemClock(settings.tz)
    keys = ApiKeys(clock)
    storage = await open_storage(settings.database_url, pool_size=settings.database_pool_size)
    try:
        async with storage.transaction() as session:
            if arguments.command == "create":
                key, text = await keys.create(session, arguments.name, ApiScope(arguments.scope))
            elif arguments.command == "revoke":
                revoked = await keys.revoke(session, arguments.name)
            elif arguments.command == "audit":
                entries = await session.open311.audit_log(limit=arguments.limit)
            else:
                listed = await keys.list(session)
    except InvalidKeyName:
        print("api-key failed: a name is 1-64 letters, digits, '.', '_' or '-'", file=sys.stderr)
        return 2
    except KeyNameTaken:
        print(
            f"api-key failed: an active key is named {arguments.name!r} (revoke it first)",
            file=sys.stderr,
        )
        return 2
    finally:
        await storage.close()
    if arguments.command == "create":
        print(text)
        print(
            f"# key {key.name!r} ({key.scope.value}) created; it is shown only now. Send it as"
            " the X-Api-Key header (or the api_key parameter).",
            file=sys.stderr,
        )
        return 0
    if arguments.command == "revoke":
        if not revoked:
            print(f"api-key failed: no active key named {arguments.name!r}", file=sys.stderr)
            return 2
        print(f"key {arguments.name!r} revoked")
        return 0
    if arguments.command == "audit":
        for entry in entries:
            at = entry.at.astimezone(clock.tz)
            print(
                f"{at:%Y-%m-%d %H:%M:%S}\t{entry.key_name}\t{entry.method} {entry.path}"
                f"\t{entry.status}\t{entry.subject}"
            )
        return 0
    for item in listed:
        state = (
            f"revoked {item.revoked_at.astimezone(clock.tz):%Y-%m-%d %H:%M}"
            if item.revoked_at
            else "active"
        )
        created = item.created_at.astimezone(clock.tz)
        print(f"{item.name}\t{item.scope.value}\tcreated {created:%Y-%m-%d %H:%M}\t{state}")
    return 0


def run_api_key(args: Sequence[str], settings: Settings) -> int:
    """The exit code of ``python -m bot api-key ARGS``."""
    try:
        arguments = _parser().parse_args(list(args))
    except ValueError as error:
        print(f"{USAGE}   ({error})", file=sys.stderr)
        return 2
    return asyncio.run(_run(arguments, settings))
