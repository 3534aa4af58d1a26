"""Kept photos on disk: the type read from the bytes, a size limit, content-hash names, and
references that cannot name any other file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from domain.media import MediaRefused, image_extension, is_media_ref
from fakes.viber_api import TINY_JPEG
from storage.media import FileMediaStore, default_media_dir

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 8
GIF = b"GIF89a" + b"\0" * 8


@pytest.mark.parametrize(
    ("data", "extension"),
    [(TINY_JPEG, "jpg"), (PNG, "png"), (WEBP, "webp"), (GIF, "gif"), (b"<html>", None),
     (b"RIFF\0\0\0\0WAVE", None), (b"%PDF-1.7", None), (b"", None)],
)  # fmt: skip
def test_the_type_comes_from_the_magic_bytes(data: bytes, extension: str | None) -> None:
    assert image_extension(data) == extension


def test_a_picture_is_kept_once_under_its_hash(tmp_path: Path) -> None:
    store = FileMediaStore(tmp_path / "media")
    ref = store.put(TINY_JPEG)
    assert ref == f"media:{hashlib.sha256(TINY_JPEG).hexdigest()}.jpg"
    assert store.put(TINY_JPEG) == ref
    path = store.path_of(ref)
    assert path is not None
    assert path.read_bytes() == TINY_JPEG
    assert [p.name for p in (tmp_path / "media").iterdir()] == [path.name]


@pytest.mark.parametrize("data", [b"", b"<html>not an image</html>", TINY_JPEG + b"\0" * 2048])
def test_what_is_not_kept(tmp_path: Path, data: bytes) -> None:
    store = FileMediaStore(tmp_path / "media", max_bytes=2048)
    with pytest.raises(MediaRefused):
        store.put(data)
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())


@pytest.mark.parametrize(
    "ref",
    ["media:../bot.sqlite3", "media:" + "a" * 64 + ".exe", "media:" + "A" * 64 + ".jpg",
     "https://example.test/p.jpg", "AgACAgIAAxkBAAIB", "media:/etc/passwd"],
)  # fmt: skip
def test_a_reference_names_only_a_kept_file(tmp_path: Path, ref: str) -> None:
    assert not is_media_ref(ref)
    assert FileMediaStore(tmp_path).path_of(ref) is None


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert FileMediaStore(tmp_path).path_of("media:" + "0" * 64 + ".png") is None


def test_the_default_directory_is_beside_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db/bot.sqlite3"
    assert default_media_dir(url) == tmp_path / "db" / "media"
    assert default_media_dir("sqlite:///data/x.sqlite3", base=tmp_path) == tmp_path / "data/media"
    assert default_media_dir("postgresql://db/bot", base=tmp_path) == tmp_path / "data/media"
