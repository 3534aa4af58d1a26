"""Small talk and reactions: "дякую", "👍", "ти бот?", "бля" are answered briefly, not searched.

``faq/data/smalltalk.yaml`` lists the groups (thanks, greeting, goodbye, approval, "are you a
bot", upset, laughter) with their phrases; its header explains how a message is recognised.
Only short messages made entirely of small-talk words (and fillers) or only of emoji count, so
"дякую, а де взяти довідку" still reaches the knowledge base.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from faq.errors import ContentError, ContentProblem
from faq.text import fold, fold_pattern
from faq.yaml_file import read_model

__all__ = ["DEFAULT_SMALLTALK", "GROUPS", "REACTION", "SmallTalk", "default_smalltalk"]

DEFAULT_SMALLTALK = Path(__file__).resolve().parent / "data" / "smalltalk.yaml"

# Every group the bot has an answer for (``smalltalk_<id>`` in the locale files), in the order
# of precedence when words of several groups meet.
GROUPS = ("upset", "bot", "thanks", "goodbye", "greeting", "laughter", "approval")
# Emoji no group lists: a reaction with a neutral answer.
REACTION = "reaction"
MAX_CHARS = 80
_NO_TYPOS = frozenset({"upset"})
_TYPO_MIN_LENGTH = 5
# Parts of an emoji that are not symbols themselves: variation selectors, the zero-width
# joiner, skin tones, the keycap.
_EMOJI_JOINERS = re.compile("[\ufe0e\ufe0f\u200d\u20e3\U0001f3fb-\U0001f3ff]")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    phrases: list[Text] = Field(min_length=1)
    word_patterns: list[Text] = Field(default_factory=list)
    emoji: str = ""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_words: int = Field(ge=1, le=12)
    fillers: list[Text] = Field(default_factory=list)
    groups: list[_Group] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class _Compiled:
    id: str
    rank: int
    phrases: frozenset[tuple[str, ...]]
    words: frozenset[str]  # one-word phrases, for the one-typo check
    patterns: tuple[re.Pattern[str], ...]
    emoji: frozenset[str]


class SmallTalk:
    """Tells which small-talk group a message is, if it is one."""

    def __init__(self, groups: tuple[_Compiled, ...], fillers: frozenset[str], max_words: int):
        self._groups = groups
        self._fillers = fillers
        self._max_words = max_words
        self._longest = max((len(p) for g in groups for p in g.phrases), default=1)

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(group.id for group in self._groups)

    def classify(self, text: str) -> str | None:
        """The group of ``text`` (one of ``GROUPS`` or ``REACTION``), or None for anything else."""
        text = text.strip()
        if not text or len(text) > MAX_CHARS:
            return None
        words = tuple(fold(text).split())
        symbols = _symbols(text, words)
        if symbols is None:
            return None  # punctuation or other signs only ("?", "..."): not a reaction
        emoji_ranks = [group.rank for group in self._groups if symbols & group.emoji]
        if not words:
            if not symbols:
                return None
            return self._groups[min(emoji_ranks)].id if emoji_ranks else REACTION
        if len(words) > self._max_words:
            return None
        covered, rank = self._cover(words)
        if not covered:
            return None
        found = [r for r in (rank, min(emoji_ranks, default=None)) if r is not None]
        if not found:
            return None  # fillers only ("ну", "бот")
        return self._groups[min(found)].id

    def _cover(self, words: tuple[str, ...]) -> tuple[bool, int | None]:
        """(covered, best rank) over every way to cover ``words`` entirely by phrases, word
        patterns and fillers; the rank is None when a cover has fillers only."""
        best: list[tuple[bool, int | None]] = [(False, None)] * (len(words) + 1)
        best[len(words)] = (True, None)
        for start in range(len(words) - 1, -1, -1):
            covered, rank = False, None
            for length, element in self._elements(words, start):
                rest_covered, rest_rank = best[start + length]
                if not rest_covered:
                    continue
                ranks = [r for r in (element, rest_rank) if r is not None]
                candidate = min(ranks) if ranks else None
                if not covered or (candidate is not None and (rank is None or candidate < rank)):
                    covered, rank = True, candidate
            best[start] = (covered, rank)
        return best[0]

    def _elements(self, words: tuple[str, ...], start: int) -> list[tuple[int, int | None]]:
        """(length, rank or None for a filler) of every element that starts at ``start``."""
        found: list[tuple[int, int | None]] = []
        word = words[start]
        if word in self._fillers:
            found.append((1, None))
        for length in range(1, min(self._longest, len(words) - start) + 1):
            phrase = words[start : start + length]
            for group in self._groups:
                if phrase in group.phrases:
                    found.append((length, group.rank))
        for group in self._groups:
            if any(p.fullmatch(word) for p in group.patterns) or (
                group.id not in _NO_TYPOS
                and len(word) >= _TYPO_MIN_LENGTH
                and any(_one_edit(word, known) for known in group.words)
            ):
                found.append((1, group.rank))
        return found


def _symbols(text: str, words: tuple[str, ...]) -> frozenset[str] | None:
    """The emoji of ``text`` besides its words; None when a non-word character is something
    else than an emoji, punctuation or a space."""
    rest = _EMOJI_JOINERS.sub("", unicodedata.normalize("NFC", text))
    symbols: set[str] = set()
    for char in rest:
        category = unicodedata.category(char)
        if category == "So":
            symbols.add(char)
        elif category[0] in "LNPZ" or char in "+":
            continue
        else:
            return None
    if not words and not symbols:
        return None
    return frozenset(symbols)


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one inserted, deleted or replaced letter."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def load_smalltalk(path: Path = DEFAULT_SMALLTALK) -> SmallTalk:
    """Read and validate the groups; raise ContentError naming every problem."""
    parsed = read_model(path, _File)
    problems: list[ContentProblem] = []
    ids = [group.id for group in parsed.groups]
    for group_id in sorted(set(ids) - set(GROUPS)):
        problems.append(
            ContentProblem(
                file=path.name,
                message=f"group {group_id} has no answer (known: {', '.join(GROUPS)})",
            )
        )
    for group_id in GROUPS:
        if ids.count(group_id) != 1:
            problems.append(
                ContentProblem(
                    file=path.name,
                    message=f"group {group_id} must appear once, not {ids.count(group_id)}",
                )
            )
    seen: dict[tuple[str, ...], str] = {}
    compiled: list[_Compiled] = []
    by_id = {group.id: group for group in parsed.groups}
    for rank, group_id in enumerate(g for g in GROUPS if g in by_id):
        group = by_id[group_id]
        phrases: set[tuple[str, ...]] = set()
        for phrase in group.phrases:
            folded = tuple(fold(phrase).split())
            if not folded:
                problems.append(
                    ContentProblem(file=path.name, message=f"{group.id}: {phrase!r} has no words")
                )
            elif seen.get(folded, group.id) != group.id:
                problems.append(
                    ContentProblem(
                        file=path.name,
                        message=f"{group.id}: {phrase!r} is also in {seen[folded]}",
                    )
                )
            seen[folded] = group.id
            phrases.add(folded)
        patterns: list[re.Pattern[str]] = []
        for pattern in group.word_patterns:
            try:
                patterns.append(re.compile(fold_pattern(pattern)))
            except re.error as exc:
                problems.append(
                    ContentProblem(
                        file=path.name, message=f"{group.id}: pattern {pattern!r}: {exc}"
                    )
                )
        emoji = frozenset(_EMOJI_JOINERS.sub("", group.emoji).replace(" ", ""))
        compiled.append(
            _Compiled(
                id=group.id,
                rank=rank,
                phrases=frozenset(phrases),
                words=frozenset(p[0] for p in phrases if len(p) == 1),
                patterns=tuple(patterns),
                emoji=emoji,
            )
        )
    if problems:
        raise ContentError(problems)
    fillers = frozenset(word for filler in parsed.fillers for word in fold(filler).split())
    return SmallTalk(tuple(compiled), fillers, parsed.max_words)


@cache
def default_smalltalk() -> SmallTalk:
    """The shipped groups, loaded once."""
    return load_smalltalk()
