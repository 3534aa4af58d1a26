"""Kept photos as files in ``MEDIA_DIR`` (``domain.media.MediaStore``).

A file is named by the SHA-256 of its bytes and the extension its magic bytes give, so the same
picture sent twice is kept once, and a reference can never name a path of its own choosing.
It is written to a temporary file in the same directory, flushed to disk, then renamed into
place (``os.replace``: atomic on one file system), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from domain.media import MediaRefused, image_extension, is_media_ref, media_ref
from storage.errors import ConfigurationError
from storage.url import sqlite_path

__all__ = ["DEFAULT_MEDIA_MAX_BYTES", "FileMediaStore", "copy_media", "default_media_dir"]

logger = logging.getLogger(__name__)

DEFAULT_MEDIA_MAX_BYTES = 10 * 1024 * 1024


def default_media_dir(database_url: str, *, base: Path | None = None) -> Path:
    """``media/`` beside the SQLite file; ``data/media`` under ``base`` for another backend."""
    try:
        return sqlite_path(database_url, base=base).parent / "media"
    except ConfigurationError:
        return (base or Path.cwd()) / "data" / "media"


class FileMediaStore:
    """Image files under one directory, at most ``max_bytes`` each."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MEDIA_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.directory = directory
        self._max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"FileMediaStore({str(self.directory)!r}, max_bytes={self._max_bytes})"

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def ensure(self) -> bool:
        """Create the directory; False (and a warning) when it cannot be: photos then stay
        as the platform's references, nothing else stops."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            logger.warning("media directory %s cannot be created: %s", self.directory, error)
            return False
        return True

    def put(self, data: bytes) -> str:
        if not data:
            raise MediaRefused("empty file")
        if len(data) > self._max_bytes:
            raise MediaRefused(f"{len(data)} bytes, more than {self._max_bytes}")
        extension = image_extension(data)
        if extension is None:
            raise MediaRefused("not a JPEG, PNG, WebP or GIF image")
        ref = media_ref(hashlib.sha256(data).hexdigest(), extension)
        target = self.directory / ref.removeprefix("media:")
        if target.is_file():
            # The same bytes are kept already; touched, so the retention sweep (which deletes
            # only files older than its grace) leaves a photo sent again alone.
            with contextlib.suppress(OSError):
                os.utime(target)
            return ref
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        except OSError as error:
            raise MediaRefused(f"cannot write to {self.directory}: {error}") from error
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o640)
            os.replace(temporary, target)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise MediaRefused(f"cannot write to {self.directory}: {error}") from error
        return ref

    def path_of(self, ref: str) -> Path | None:
        if not is_media_ref(ref):
            return None
        path = self.directory / ref.removeprefix("media:")
        return path if path.is_file() else None

    def stored_before(self, moment: datetime) -> list[str]:
        """References of the kept files last written before ``moment`` (the retention job
        never looks at younger ones: a photo is kept before the message naming it commits)."""
        if not self.directory.is_dir():
            return []
        limit = moment.timestamp()
        refs = []
        for path in sorted(self.directory.iterdir()):
            ref = "media:" + path.name
            with contextlib.suppress(OSError):
                if is_media_ref(ref) and path.is_file() and path.stat().st_mtime < limit:
                    refs.append(ref)
        return refs

    def remove(self, ref: str, *, before: datetime | None = None) -> bool:
        """Delete the file behind ``ref`` (only if last written before ``before``, when given);
        False when it is not one of ours, is gone or is younger."""
        path = self.path_of(ref)
        if path is None:
            return False
        try:
            if before is not None and path.stat().st_mtime >= before.timestamp():
                return False
            path.unlink()
        except OSError as error:
            logger.warning("kept photo %s not deleted: %s", ref, error)
            return False
        return True


def copy_media(source: Path, target: Path) -> tuple[int, int]:
    """Copy the kept photos of ``source`` into ``target`` (created); (copied, already there).

    Names are the SHA-256 of the content, so a file of the same name is the same photo and is
    left alone; each copy goes to a temporary name first and is renamed into place.
    """
    target.mkdir(parents=True, exist_ok=True)
    copied = present = 0
    for path in sorted(source.iterdir()) if source.is_dir() else []:
        if not (is_media_ref("media:" + path.name) and path.is_file()):
            continue
        destination = target / path.name
        if destination.is_file():
            present += 1
            continue
        descriptor, temporary = tempfile.mkstemp(dir=target, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file, path.open("rb") as original:
                shutil.copyfileobj(original, file)
                file.flush()
                os.fsync(file.fileno())
            shutil.copystat(path, temporary)
            os.replace(temporary, destination)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        copied += 1
    return copied, present
