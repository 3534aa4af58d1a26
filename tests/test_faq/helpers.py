"""Helpers for faq tests: the fixture folders and builders of valid content to break on purpose."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import date
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_CONTENT = FIXTURES / "content"
TODAY = date(2026, 11, 25)

ContentWriter = Callable[..., Path]


def valid_entry(entry_id: str = "shelters", **changes: Any) -> dict[str, Any]:
    """A minimal entry that passes validation; keyword arguments replace fields."""
    entry: dict[str, Any] = {
        "id": entry_id,
        "title": {"uk": "Укриття", "en": "Shelters"},
        "answer": {"uk": "Шукайте найближче укриття.", "en": "Find the nearest shelter."},
        "short": {"uk": "Йдіть до укриття.", "en": "Go to a shelter."},
        "keywords": {"uk": ["укриття"], "ru": ["укрытие"]},
        "questions": [
            f"де укриття {entry_id}",
            f"куди ховатися {entry_id}",
            f"где убежище {entry_id}",
        ],
        "reviewed": date(2026, 11, 1),
    }
    entry.update(changes)
    return entry


def section_file(
    section_id: str = "safety", entries: list[dict[str, Any]] | None = None, order: int = 1
) -> dict[str, Any]:
    return {
        "section": {"id": section_id, "order": order, "title": {"uk": "Безпека", "en": "Safety"}},
        "entries": deepcopy(entries) if entries is not None else [valid_entry()],
    }
