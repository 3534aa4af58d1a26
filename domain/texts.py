"""The message catalogs: every sentence the bot says, in YAML, one folder per language.

A plain key -> template catalog rather than gettext: the bot's default language (Ukrainian) is
not the source language of the code, content editors change texts without a compile step, and
the same keys serve every channel. Each feature keeps its texts in its own file
(``locales/uk/requests.yaml`` beside ``locales/en/requests.yaml``); a key lives in one file.
A test checks that every language has every key with the same placeholders.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

DEFAULT_LANGUAGE = "uk"
LANGUAGES = ("uk", "en")


class TextsError(Exception):
    """A catalog is missing, malformed or inconsistent."""


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Texts:
    """All catalogs, loaded once at start-up."""

    catalogs: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, extra: Mapping[str, Mapping[str, str]] | None = None) -> Texts:
        """Merge ``locales/<language>/*.yaml`` (one file per feature) for every language."""
        catalogs: dict[str, dict[str, str]] = {}
        root = resources.files("domain") / "locales"
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            files = sorted(
                (item for item in (root / language).iterdir() if item.name.endswith(".yaml")),
                key=lambda item: item.name,
            )
            for item in files:
                raw: Any = yaml.safe_load(item.read_text(encoding="utf-8")) or {}
                if not isinstance(raw, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
                ):
                    raise TextsError(f"locales/{language}/{item.name} must map keys to strings")
                for key in raw.keys() & merged.keys():
                    raise TextsError(f"locales/{language}/{item.name}: key {key!r} defined twice")
                merged.update(raw)
            catalogs[language] = merged
        for language, more in (extra or {}).items():
            catalogs.setdefault(language, {}).update(more)
        texts = cls(catalogs)
        texts.check()
        return texts

    def check(self) -> None:
        reference = self.catalogs[DEFAULT_LANGUAGE]
        problems: list[str] = []
        for language, catalog in self.catalogs.items():
            for key in reference.keys() - catalog.keys():
                problems.append(f"{language}: missing key {key!r}")
            for key in catalog.keys() - reference.keys():
                problems.append(f"{language}: key {key!r} is not in {DEFAULT_LANGUAGE}")
            for key in reference.keys() & catalog.keys():
                if placeholders(reference[key]) != placeholders(catalog[key]):
                    problems.append(f"{language}: placeholders of {key!r} differ")
        if problems:
            raise TextsError("; ".join(sorted(problems)))

    def get(self, language: str, key: str, /, **values: object) -> str:
        catalog = self.catalogs.get(language) or self.catalogs[DEFAULT_LANGUAGE]
        template = catalog.get(key)
        if template is None:
            template = self.catalogs[DEFAULT_LANGUAGE][key]
        return template.format(**values) if values else template
