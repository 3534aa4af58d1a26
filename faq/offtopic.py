"""Out-of-scope examples: what a city contact center does not answer, for honest rejection.

``faq/data/offtopic.yaml`` lists groups of example questions (currency rates, recipes, sports,
small talk...). The matcher ranks them beside the entries; when a group fits a message better
than any entry, the bot says it does not know instead of suggesting an unrelated topic. A
threshold alone cannot do that: "рецепт борщу" shares letters with real entries and would be
offered one, while an example of the same kind wins outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from faq.errors import ContentError, ContentProblem
from faq.yaml_file import read_model

__all__ = ["DEFAULT_OFFTOPIC", "OffTopic", "load_offtopic"]

DEFAULT_OFFTOPIC = Path(__file__).resolve().parent / "data" / "offtopic.yaml"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2)]


@dataclass(frozen=True, slots=True)
class OffTopic:
    """A kind of question the bot does not answer, with examples of it."""

    id: str
    examples: tuple[str, ...]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z_]+$")]
    examples: list[Text] = Field(min_length=3)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[_Group] = Field(min_length=1)


def load_offtopic(path: Path = DEFAULT_OFFTOPIC) -> tuple[OffTopic, ...]:
    """Read and validate the groups; raise ContentError naming every problem."""
    parsed = read_model(path, _File)
    ids = [group.id for group in parsed.groups]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ContentError(
            [ContentProblem(file=path.name, message=f"group {i} appears twice") for i in twice]
        )
    return tuple(OffTopic(group.id, tuple(group.examples)) for group in parsed.groups)
