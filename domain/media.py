"""Photos kept by the bot itself: the ``media:`` reference and the port that stores the bytes.

A platform's photo reference is not always durable: a Viber picture is a temporary download
URL that expires. The channel adapter that receives such a photo downloads it and hands the
bytes to a ``MediaStore``, which checks them (size, and the type by the file's magic bytes) and
keeps them under a content-hash name; the request then holds ``media:<sha256>.<ext>``, which
any channel that can upload a file can show later.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

__all__ = [
    "MEDIA_PREFIX",
    "MediaRefused",
    "MediaStore",
    "image_extension",
    "is_media_ref",
    "media_ref",
]

MEDIA_PREFIX = "media:"
_REF = re.compile(r"media:([0-9a-f]{64})\.(jpg|png|webp|gif)")


class MediaRefused(ValueError):
    """The bytes are not kept: too big, empty, or not an image of an accepted type."""


def image_extension(data: bytes) -> str | None:
    """The file extension of an accepted image type, read from the magic bytes (never the
    name, URL or a declared content type): JPEG, PNG, WebP or GIF; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def media_ref(digest: str, extension: str) -> str:
    """The reference of a kept file: ``media:<sha256 hex>.<ext>``."""
    ref = f"{MEDIA_PREFIX}{digest}.{extension}"
    if not _REF.fullmatch(ref):
        raise ValueError("not a media reference")
    return ref


def is_media_ref(ref: str) -> bool:
    """Whether ``ref`` names a kept file (and nothing else: no path, no other extension)."""
    return _REF.fullmatch(ref) is not None


class MediaStore(Protocol):
    """Keeps image bytes durably; the adapters that download or upload photos use it."""

    @property
    def max_bytes(self) -> int:
        """The largest file kept; a download bigger than this is refused while it streams."""
        ...

    def put(self, data: bytes) -> str:
        """Keep ``data`` and return its ``media:`` reference; raises ``MediaRefused``."""
        ...

    def path_of(self, ref: str) -> Path | None:
        """The file behind a ``media:`` reference, or None when it is not one or is gone."""
        ...
