"""What a knowledge-base section and entry are: frozen values, plus the pydantic file schema.

The pydantic models (``*File``) describe exactly what a content file may contain and are used only
at the boundary, by :mod:`faq.knowledge`; the rest of the bot sees the frozen dataclasses.

An entry has two answers in each language: ``short`` (at most ``SHORT_MAX_CHARS``: what to do
now, shown first in a chat) and ``answer`` (the full text behind "Детальніше"). A reference to
another entry in either ("див. тему «Опалення»") must use its exact title (``faq check``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.requests import Category

__all__ = [
    "ANSWER_MAX_CHARS",
    "SHORT_MAX_CHARS",
    "Action",
    "Entry",
    "EntryFile",
    "Keywords",
    "Localized",
    "RequestCategory",
    "Section",
    "SectionFile",
    "Source",
]

# Telegram allows 4096 characters per message; the answer leaves room for the title, the
# "related" line and contacts that handlers append.
ANSWER_MAX_CHARS = 3000
# The short answer is the first message in a chat (what to do now: the key step, the key number
# or place); the full answer is one button away ("Детальніше"). About a phone screen.
SHORT_MAX_CHARS = 400

ID_PATTERN = r"^[a-z_]+$"


class Action(StrEnum):
    """What the bot offers after an answer, beyond the text itself."""

    FIND_SHELTER = "find_shelter"
    OPERATOR = "operator"
    REQUEST = "request"


# The request categories are the requests' own (one list for intake, routing and content).
RequestCategory = Category


@dataclass(frozen=True, slots=True)
class Localized:
    """A text in Ukrainian (the default) and English."""

    uk: str
    en: str

    def get(self, language: str) -> str:
        """The text in ``language``; anything but English gets Ukrainian."""
        return self.en if language == "en" else self.uk


@dataclass(frozen=True, slots=True)
class Keywords:
    """Words and short phrases residents type, grouped by the language they are typed in."""

    uk: tuple[str, ...]
    ru: tuple[str, ...] = ()
    surzhyk: tuple[str, ...] = ()
    en: tuple[str, ...] = ()

    def all(self) -> tuple[str, ...]:
        return (*self.uk, *self.ru, *self.surzhyk, *self.en)


@dataclass(frozen=True, slots=True)
class Source:
    """Where an answer's facts come from."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Section:
    """A menu section (one content file)."""

    id: str
    order: int
    title: Localized


@dataclass(frozen=True, slots=True)
class Entry:
    """One answer of the knowledge base, with everything the matcher needs to find it."""

    id: str
    section_id: str
    title: Localized
    answer: Localized
    keywords: Keywords
    questions: tuple[str, ...]
    # What to do now, shown first in a chat; ``answer`` is the full text behind "Детальніше".
    # Never indexed by the matcher (``faq.matcher._entry_texts``), like ``answer``.
    short: Localized
    related: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    reviewed: date | None = None
    action: Action | None = None
    request_category: RequestCategory | None = None


# --- file schema (pydantic, the trust boundary) -------------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class _FileModel(BaseModel):
    # Unknown keys are usually typos ("answr", "ua"); refusing them beats silently ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class LocalizedFile(_FileModel):
    uk: Text
    en: Text

    def value(self) -> Localized:
        return Localized(uk=self.uk, en=self.en)


class KeywordsFile(_FileModel):
    uk: list[Text] = Field(min_length=1)
    ru: list[Text] = Field(default_factory=list)
    surzhyk: list[Text] = Field(default_factory=list)
    en: list[Text] = Field(default_factory=list)

    def value(self) -> Keywords:
        return Keywords(
            uk=tuple(self.uk), ru=tuple(self.ru), surzhyk=tuple(self.surzhyk), en=tuple(self.en)
        )


class SourceFile(_FileModel):
    title: Text
    url: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://\S+$")]


class SectionFile(_FileModel):
    """The ``section:`` block of a content file."""

    id: Identifier
    order: int
    title: LocalizedFile

    def value(self) -> Section:
        return Section(id=self.id, order=self.order, title=self.title.value())


class EntryFile(_FileModel):
    """One item of ``entries:`` in a content file (rules across entries live in the loader)."""

    id: Identifier
    title: LocalizedFile
    answer: LocalizedFile
    short: LocalizedFile
    keywords: KeywordsFile
    questions: list[Text] = Field(min_length=3, max_length=30)
    related: list[Identifier] = Field(default_factory=list)
    sources: list[SourceFile] = Field(default_factory=list)
    reviewed: date
    action: Action | None = None
    request_category: RequestCategory | None = None

    def value(self, section_id: str) -> Entry:
        return Entry(
            id=self.id,
            section_id=section_id,
            title=self.title.value(),
            answer=self.answer.value(),
            short=self.short.value(),
            keywords=self.keywords.value(),
            questions=tuple(self.questions),
            related=tuple(self.related),
            sources=tuple(Source(title=s.title, url=s.url) for s in self.sources),
            reviewed=self.reviewed,
            action=self.action,
            request_category=self.request_category,
        )
