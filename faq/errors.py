"""The faq error family: every problem with content, shelter data or lookups is a ContentError."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ContentError", "ContentProblem", "ShelterDataError", "UnknownEntryError"]


@dataclass(frozen=True, slots=True)
class ContentProblem:
    """One thing wrong with one place in a content file, phrased for a content editor."""

    file: str
    message: str
    entry: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.entry is not None:
            where = f"{where}: entry '{self.entry}'"
        return f"{where}: {self.message}"


class ContentError(Exception):
    """Root of the faq error family; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[ContentProblem] | str) -> None:
        if isinstance(problems, str):
            found: tuple[ContentProblem, ...] = (ContentProblem(file="-", message=problems),)
            text = problems
        else:
            found = tuple(problems)
            count = len(found)
            header = f"{count} problem{'s' if count != 1 else ''} in content:"
            text = "\n".join([header, *(f"  - {problem}" for problem in found)])
        super().__init__(text)
        self.problems = found


class ShelterDataError(ContentError):
    """The shelter CSV is unreadable or has invalid rows."""


class UnknownEntryError(ContentError, LookupError):
    """An entry or section id that the loaded knowledge base does not have (e.g. a stale button)."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"unknown {kind} id: {identifier!r}")
        self.identifier = identifier
