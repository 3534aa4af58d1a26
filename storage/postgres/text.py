"""Text values PostgreSQL cannot hold: the NUL character.

A PostgreSQL ``text`` value cannot contain U+0000, which SQLite stores like any other character
and a resident can send (a pasted binary, a hostile client). Rather than fail the whole
transaction (the resident's request lost with it), every string bound as a parameter on this
backend has NUL replaced by U+FFFD, the replacement character, as a decoder does with bytes it
cannot represent. This is the one place where the two backends store different text.
"""

from __future__ import annotations

from psycopg.abc import AdaptContext, Buffer
from psycopg.types.string import StrDumper, StrDumperUnknown

__all__ = ["NUL_REPLACEMENT", "register_nul_free_text"]

NUL_REPLACEMENT = "\ufffd"


class _NulFreeText(StrDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", NUL_REPLACEMENT))


class _NulFreeUnknown(StrDumperUnknown):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", NUL_REPLACEMENT))


def register_nul_free_text(context: AdaptContext) -> None:
    """Bind strings with NUL replaced (the last dumper registered is the default for ``%s``)."""
    context.adapters.register_dumper(str, _NulFreeText)
    context.adapters.register_dumper(str, _NulFreeUnknown)
