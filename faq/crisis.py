"""Crisis first: recognising a person in danger, and what the bot tells them before anything else.

Two data files under ``faq/data/``, both checked by ``python -m faq check``:

* ``crisis.yaml`` is content (editors own it): the emergency numbers, and per category (suicide,
  medical, fire...) the numbers to show on top, a short calm answer in Ukrainian and English,
  its sources and the date it was reviewed.
* ``crisis_signals.yaml`` says how each category is recognised: regular expressions written in
  ordinary spelling and matched against the message folded like the FAQ matcher folds it (one
  alphabet for Ukrainian, Russian and surzhyk, no case, no doubled letters), a vocabulary of
  words whose misspellings are corrected first (``задихаєтся`` -> ``задихається``), phrases
  that are removed before matching because they only sound alarming (``вбити час``), and
  symbols (emoji) that folding would drop, spelled as words the patterns can name (``🔥``).

* ``crisis_examples.yaml`` holds labelled examples: the messages of the crisis development sets
  per category, and look-alike ordinary messages. They are the second signal (below).

Two signals, both explainable. Rules come first: a crisis must be recognised from a few words in
any form, a miss costs a life and a false alarm costs a minute of an operator, and every rule
can be read by the people who answer for it. But rules generalise only partly to wording they
were not written for: on a development set written before the rules saw it
(``crisis_dev4.yaml``), the rules of three earlier rounds found 0.56 of its crises. So the
message, as the rules read it, is also compared with the labelled examples the way the FAQ
matcher compares a question with its entries (folded character n-grams, TF-IDF, cosine): when
the nearest examples of a category resemble it closely enough, and more closely than the nearest
ordinary messages (the look-alikes, the FAQ's example questions, off-topic examples and small
talk), it is that crisis, and the alarm says which example it resembles. With the examples of
the three earlier rounds only, this raised that set's recall from 0.56 to 0.68 with no new alarm
on its look-alike controls or on the FAQ's development questions; the thresholds below were
chosen that way. A semantic embedding model was measured too and is too slow here (p50 35 ms,
p99 125 ms, 49 s to load). Both signals are measured on labelled sets
(``faq/eval/crisis_*.yaml``) by ``python -m bench --only crisis``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from faq.content_model import Localized, Source
from faq.errors import ContentError, ContentProblem
from faq.text import fold, fold_pattern

if TYPE_CHECKING:
    from faq.matcher import _IndexWord, _NgramIndex

__all__ = [
    "DEFAULT_CRISIS_CONTENT",
    "DEFAULT_CRISIS_SIGNALS",
    "EMERGENCY",
    "Crisis",
    "CrisisCategory",
    "CrisisContent",
    "CrisisDetector",
    "CrisisExamples",
    "Hotline",
    "Resemblance",
    "load_crisis",
]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CRISIS_CONTENT = DATA_DIR / "crisis.yaml"
DEFAULT_CRISIS_SIGNALS = DATA_DIR / "crisis_signals.yaml"
DEFAULT_CRISIS_EXAMPLES = DATA_DIR / "crisis_examples.yaml"

# The single emergency number: shown under every crisis answer, whatever the category lists.
EMERGENCY = "112"
# A crisis answer must fit a phone screen with its numbers on top.
CRISIS_ANSWER_MAX_CHARS = 700
# Misspellings of vocabulary words are corrected from this length (shorter words are too easy
# to confuse: "газ" / "раз"), one edit away (a swap of two letters is one edit). A word that
# already starts like a vocabulary word is an inflection, not a typo, and is left alone: the
# patterns match stems, and "пожежна" (fire-safety) must not become "пожежа" (a fire).
TYPO_MIN_LENGTH = 5
STEM_SLACK = 2
# Only the start of a very long message is searched (a crisis is named early; 4096 characters
# of text would otherwise cost a few milliseconds of regular expressions).
MAX_CHARS = 2000
# A message that is nothing but an emergency number ("103") is someone trying to call it.
_BARE_NUMBER = re.compile(r"^\s*(10[1-4]|112|7333)\s*[.!?]*\s*$")
# The nearest-examples signal (chosen on crisis_dev4.yaml with examples from the three earlier
# rounds, and on the FAQ's own development questions, never on a held-out set): a category's
# score is the mean cosine of its NEIGHBOURS nearest examples; it alarms from RESEMBLANCE and
# only when it beats the same mean over the ordinary messages by MARGIN. One nearest example
# alone was noisier (a shared "завтра ... не буде" made a weather question look suicidal).
NEIGHBOURS = 2
RESEMBLANCE = 0.25
MARGIN = 0.15
# Only the start of a message is compared with the examples (they are a sentence or two long).
EXAMPLE_MAX_CHARS = 400
# Distinct words whose n-gram sums are kept (a word costs a few hundred postings to work out).
WORD_CACHE_SIZE = 20_000
# Ukrainian and Russian typed in Latin letters ("cholovik b'ye mene", "gazom vonyaet") are read
# once more spelt in Cyrillic, so the Cyrillic patterns apply. A small table rather than a
# library: none is installed, and folding makes the two languages one alphabet anyway
# (y, i, j and yi all become и; ye and e become е). Longest spellings first; h is х, as in
# Russian and in most Ukrainian typed on a phone ("kh" too).
# A message with an English function word is English and is left alone ("be" is "бє" spelt
# in Latin); words that are Ukrainian or Russian too (i, a, on, do, to, no, by) are not listed.
_LATIN = re.compile(r"[a-z]")
_ENGLISH = re.compile(
    r" (the|my|is|was|in|of|and|it|how|what|when|we|you|he|she|at|with|for|be|will|not|his|her"
    r"|our|your|are|this|that|from|there|just|me|has|have|can|who|where|been|they|him|them"
    r"|please|help|hi|hello|an|or|if|up|out|all|get|need|just|its|im|dont|cant) "
)
_TRANSLIT = re.compile(r"shch|sch|tsya|zh|kh|ch|sh|ts|ya|ja|yu|ju|ye|je|yo|jo|yi|ji|[a-z]")
_TRANSLIT_TABLE = {
    "shch": "щ", "sch": "щ", "tsya": "тся", "zh": "ж", "kh": "х", "ch": "ч", "sh": "ш",
    "ts": "ц", "ya": "я", "ja": "я", "yu": "ю", "ju": "ю", "ye": "е", "je": "е", "yo": "е",
    "jo": "е", "yi": "и", "ji": "и", "a": "а", "b": "б", "c": "ц", "d": "д", "e": "е",
    "f": "ф", "g": "г", "h": "х", "i": "и", "j": "и", "k": "к", "l": "л", "m": "м", "n": "н",
    "o": "о", "p": "п", "q": "к", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в", "w": "в",
    "x": "кс", "y": "и", "z": "з",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Hotline:
    """An emergency number and what it is for."""

    number: str
    label: Localized


@dataclass(frozen=True, slots=True)
class CrisisCategory:
    """One kind of danger: the numbers to call first and what to do while waiting."""

    id: str
    title: Localized
    numbers: tuple[str, ...]
    answer: Localized
    sources: tuple[Source, ...]
    reviewed: date


@dataclass(frozen=True, slots=True)
class CrisisContent:
    """Everything the bot says in a crisis, validated."""

    hotlines: tuple[Hotline, ...]
    categories: tuple[CrisisCategory, ...]

    def category(self, category_id: str) -> CrisisCategory:
        for category in self.categories:
            if category.id == category_id:
                return category
        raise KeyError(category_id)

    def hotline(self, number: str) -> Hotline:
        for hotline in self.hotlines:
            if hotline.number == number:
                return hotline
        raise KeyError(number)

    def numbers_for(self, category_ids: Sequence[str]) -> tuple[Hotline, ...]:
        """The numbers of these categories in order, without repeats, 112 always last but one
        category's own (so the most specific number is on top)."""
        seen: list[str] = []
        for category_id in category_ids:
            for number in self.category(category_id).numbers:
                if number not in seen and number != EMERGENCY:
                    seen.append(number)
        seen.append(EMERGENCY)
        return tuple(self.hotline(number) for number in seen)


@dataclass(frozen=True, slots=True)
class Crisis:
    """What the detector found: the categories (most urgent first) and the rules that fired."""

    categories: tuple[str, ...]
    rules: tuple[str, ...]

    @property
    def primary(self) -> str:
        return self.categories[0]


@dataclass(frozen=True, slots=True)
class Resemblance:
    """Why the examples signal raised an alarm: the category, its nearest example and how close
    it is (the mean cosine of the nearest examples), against the nearest ordinary message."""

    category: str
    example: str
    score: float
    ordinary: str
    ordinary_score: float

    def explain(self) -> str:
        return (
            f"resembles {self.category} example {self.example!r} ({self.score:.2f}; "
            f"nearest ordinary {self.ordinary!r} {self.ordinary_score:.2f})"
        )


class CrisisExamples:
    """The second signal: labelled example messages per category and ordinary look-alikes,
    compared with a message by folded character n-grams (the FAQ matcher's TF-IDF index).
    Build once (about a second for two thousand messages), use from any thread."""

    def __init__(
        self,
        examples: Mapping[str, Sequence[str]],
        ordinary: Sequence[str],
        *,
        neighbours: int = NEIGHBOURS,
        resemblance: float = RESEMBLANCE,
        margin: float = MARGIN,
    ) -> None:
        # Imported here: ``python -m faq check`` validates the files without numpy's index.
        import numpy as np  # noqa: PLC0415

        from faq.matcher import _LruCache, _NgramIndex  # noqa: PLC0415

        texts = [(category, text) for category, items in examples.items() for text in items]
        texts += [("", text) for text in ordinary]  # "" is the ordinary side
        self._texts = tuple(text for _, text in texts)
        labels = np.array([category for category, _ in texts])
        self._groups = {
            category: np.flatnonzero(labels == category)
            for category in dict.fromkeys(c for c, _ in texts)
        }
        self._index: _NgramIndex = _NgramIndex([fold(text).split() for text in self._texts])
        self._words: _LruCache[str, _IndexWord] = _LruCache(WORD_CACHE_SIZE)
        self._neighbours = neighbours
        self._resemblance = resemblance
        self._margin = margin

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(c for c in self._groups if c)

    def nearest(self, text: str) -> list[Resemblance]:
        """The categories ``text`` resembles (closest first), or an empty list."""
        import numpy as np  # noqa: PLC0415

        words = fold(text[:EXAMPLE_MAX_CHARS]).split()
        if not words:
            return []
        features = []
        for word in words:
            feature = self._words.get(word)
            if feature is None:
                feature = self._index.word(word)
                self._words.put(word, feature)
            features.append(feature)
        scores = self._index.cosine(features)
        best: dict[str, tuple[float, int]] = {}
        for category, members in self._groups.items():
            if len(members) == 0:
                continue
            top = members[np.argsort(scores[members])[-self._neighbours :]]
            best[category] = (float(scores[top].mean()), int(top[-1]))
        ordinary_score, ordinary_at = best.get("", (0.0, -1))
        found = [
            Resemblance(
                category,
                self._texts[at],
                round(score, 3),
                self._texts[ordinary_at] if ordinary_at >= 0 else "",
                round(ordinary_score, 3),
            )
            for category, (score, at) in best.items()
            if category and score >= self._resemblance and score >= ordinary_score + self._margin
        ]
        return sorted(found, key=lambda r: -r.score)


# --- file schemas (pydantic, the trust boundary) ---------------------------------------------

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z_]+$")]
Number = Annotated[str, StringConstraints(pattern=r"^\d{3,7}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _LocalizedFile(_Model):
    uk: Text
    en: Text


class _HotlineFile(_Model):
    number: Number
    uk: Text
    en: Text


class _SourceFile(_Model):
    title: Text
    url: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^https?://\S+$")]


class _CategoryFile(_Model):
    id: Identifier
    title: _LocalizedFile
    numbers: list[Number] = Field(min_length=1)
    answer: _LocalizedFile
    sources: list[_SourceFile] = Field(min_length=1)
    reviewed: date


class _ContentFile(_Model):
    reviewed: date
    numbers: list[_HotlineFile] = Field(min_length=1)
    categories: list[_CategoryFile] = Field(min_length=1)


class _CategorySignals(_Model):
    id: Identifier
    patterns: list[Text] = Field(min_length=1)


class _ExamplesFile(_Model):
    categories: dict[Identifier, list[Text]] = Field(min_length=1)
    ordinary: list[Text] = Field(default_factory=list)


class _SignalsFile(_Model):
    vocabulary: list[Text] = Field(default_factory=list)
    symbols: dict[Text, Identifier] = Field(default_factory=dict)
    ignore: list[Text] = Field(default_factory=list)
    categories: list[_CategorySignals] = Field(min_length=1)


# --- the detector ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    category: str
    source: str
    regex: re.Pattern[str]


class CrisisDetector:
    """Finds the crisis categories a message belongs to; build once, use from any thread."""

    def __init__(
        self,
        rules: Sequence[tuple[str, str]],
        *,
        vocabulary: Sequence[str] = (),
        ignore: Sequence[str] = (),
        symbols: Mapping[str, str] | None = None,
        order: Sequence[str] = (),
        bare_number_category: str | None = None,
        examples: CrisisExamples | None = None,
    ) -> None:
        """``rules``: (category, pattern) pairs; ``order``: categories, most urgent first;
        ``symbols``: symbols that folding would drop, each with the word it is read as;
        ``examples``: the second signal, consulted as well (None: rules only)."""
        self._rules = tuple(_Rule(c, p, _compile(p)) for c, p in rules)
        self._symbols = tuple((symbol, f" {word} ") for symbol, word in (symbols or {}).items())
        self._ignore = tuple(_compile(p) for p in ignore)
        self._vocabulary = sorted({fold(word) for word in vocabulary if fold(word)})
        self._known = frozenset(self._vocabulary)
        self._examples = examples
        example_categories = examples.categories if examples is not None else ()
        categories = list(
            dict.fromkeys([*order, *(rule.category for rule in self._rules), *example_categories])
        )
        self._rank = {category: index for index, category in enumerate(categories)}
        self._bare = bare_number_category

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted(self._rank, key=self._rank.__getitem__))

    def detect(self, text: str | None) -> Crisis | None:
        """The crisis in ``text``, or None when nothing points to one."""
        if not text or not text.strip():
            return None
        text = text[:MAX_CHARS]
        if self._bare is not None and _BARE_NUMBER.match(text):
            return Crisis((self._bare,), ("bare emergency number",))
        variants, blanked = self._variants(text)
        found: dict[str, str] = {}
        for rule in self._rules:
            if rule.category not in found and any(rule.regex.search(v) for v in variants):
                found[rule.category] = rule.source
        if self._examples is not None and not blanked:
            # The message as the rules read it (folded, misspellings corrected). A message with
            # an ignored phrase (an idiom, a question about the rules, a past event) has been
            # judged by the rules already: what is left of it would only resemble by chance.
            for resemblance in self._examples.nearest(variants[-1]):
                found.setdefault(resemblance.category, resemblance.explain())
        if not found:
            return None
        ordered = sorted(found, key=self._rank.__getitem__)
        return Crisis(tuple(ordered), tuple(found[c] for c in ordered))

    def _variants(self, text: str) -> tuple[tuple[str, ...], bool]:
        """The folded message with the ignored phrases blanked out, and the same with misspelt
        vocabulary words corrected (blanked again: a correction may complete an idiom); and
        whether anything was blanked."""
        for symbol, word in self._symbols:
            text = text.replace(symbol, word)
        plain = " " + " ".join(fold(text).split()) + " "
        folded = self._blank(plain)
        extra: tuple[str, ...] = ()
        if _LATIN.search(folded) and not _ENGLISH.search(folded):
            spelt = _TRANSLIT.sub(lambda m: _TRANSLIT_TABLE[m.group()], folded)
            extra = (self._blank(" " + fold(spelt) + " "),)
        words = folded.split()
        corrected = [self._correct(word) for word in words]
        if corrected == words:
            return (*extra, folded), folded != plain
        fixed = " " + " ".join(corrected) + " "
        again = self._blank(fixed)
        return (*extra, folded, again), folded != plain or again != fixed

    def _correct(self, word: str) -> str:
        if len(word) < TYPO_MIN_LENGTH or word in self._known or not self._vocabulary:
            return word
        # Imported here: ``python -m faq check`` validates these rules without loading rapidfuzz.
        from rapidfuzz import process  # noqa: PLC0415
        from rapidfuzz.distance import OSA, Prefix  # noqa: PLC0415

        stem = process.extractOne(word, self._vocabulary, scorer=Prefix.similarity)
        if stem is not None and stem[1] >= len(word) - STEM_SLACK:
            return word
        best = process.extractOne(word, self._vocabulary, scorer=OSA.distance, score_cutoff=1)
        return word if best is None else str(best[0])

    def _blank(self, text: str) -> str:
        for regex in self._ignore:
            text = regex.sub(" ", text)
        return " " + " ".join(text.split()) + " "


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(fold_pattern(pattern))


# --- loading -----------------------------------------------------------------------------------


def load_crisis(
    content: Path = DEFAULT_CRISIS_CONTENT,
    signals: Path = DEFAULT_CRISIS_SIGNALS,
    *,
    examples: Path | None = DEFAULT_CRISIS_EXAMPLES,
    ordinary: Sequence[str] | None = None,
    today: date | None = None,
) -> tuple[CrisisContent, CrisisDetector]:
    """Read and validate the files; raise ContentError naming every problem.

    ``examples``: the labelled examples of the second signal (None: rules only);
    ``ordinary``: ordinary messages the examples must not be confused with, besides the
    file's look-alikes (None: the FAQ's example questions, off-topic examples and small talk).
    """
    problems: list[ContentProblem] = []
    content_file = _read(content, _ContentFile, problems)
    signals_file = _read(signals, _SignalsFile, problems)
    examples_file = _read(examples, _ExamplesFile, problems) if examples is not None else None
    if content_file is not None:
        _check_content(content.name, content_file, today, problems)
    if content_file is not None and signals_file is not None:
        _check_signals(signals.name, content_file, signals_file, problems)
    if content_file is not None and examples is not None and examples_file is not None:
        _check_examples(examples.name, content_file, examples_file, problems)
    if (
        problems
        or content_file is None
        or signals_file is None
        or (examples is not None and examples_file is None)
    ):
        raise ContentError(problems)
    crisis = CrisisContent(
        hotlines=tuple(
            Hotline(h.number, Localized(uk=h.uk, en=h.en)) for h in content_file.numbers
        ),
        categories=tuple(
            CrisisCategory(
                id=c.id,
                title=Localized(uk=c.title.uk, en=c.title.en),
                numbers=tuple(c.numbers),
                answer=Localized(uk=c.answer.uk.strip(), en=c.answer.en.strip()),
                sources=tuple(Source(title=s.title, url=s.url) for s in c.sources),
                reviewed=c.reviewed,
            )
            for c in content_file.categories
        ),
    )
    detector = CrisisDetector(
        [(c.id, p) for c in signals_file.categories for p in c.patterns],
        vocabulary=signals_file.vocabulary,
        ignore=signals_file.ignore,
        symbols=signals_file.symbols,
        order=[c.id for c in content_file.categories],
        bare_number_category="emergency" if _has(content_file, "emergency") else None,
        examples=None
        if examples_file is None
        else CrisisExamples(
            examples_file.categories,
            [*examples_file.ordinary, *(_ordinary_messages() if ordinary is None else ordinary)],
        ),
    )
    logger.info(
        "crisis rules loaded: %d categories, %d patterns",
        len(crisis.categories),
        sum(len(c.patterns) for c in signals_file.categories),
    )
    return crisis, detector


def _ordinary_messages() -> list[str]:
    """What ordinary messages look like, from the shipped files: the FAQ's example questions,
    the off-topic examples and the small-talk phrases (not the upset ones: distress is not
    ordinary)."""
    from faq.knowledge import load_knowledge_base  # noqa: PLC0415
    from faq.offtopic import load_offtopic  # noqa: PLC0415
    from faq.smalltalk import DEFAULT_SMALLTALK  # noqa: PLC0415

    texts = [question for entry in load_knowledge_base().entries for question in entry.questions]
    texts += [example for group in load_offtopic() for example in group.examples]
    smalltalk = yaml.safe_load(DEFAULT_SMALLTALK.read_text(encoding="utf-8"))
    for group in smalltalk.get("groups", []):
        if group.get("id") != "upset":
            texts += [str(phrase) for phrase in group.get("phrases", [])]
    return texts


def _check_examples(
    name: str, content: _ContentFile, examples: _ExamplesFile, problems: list[ContentProblem]
) -> None:
    known = {c.id for c in content.categories}
    for category in examples.categories:
        if category not in known:
            problems.append(
                ContentProblem(file=name, entry=category, message="category not in crisis.yaml")
            )


def _has(content: _ContentFile, category_id: str) -> bool:
    return any(c.id == category_id for c in content.categories)


def _read(path: Path, model: type[Any], problems: list[ContentProblem]) -> Any:
    name = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ContentProblem(file=name, message=f"cannot read: {exc}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(ContentProblem(file=name, message=f"YAML syntax: {exc}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "file"
            problems.append(ContentProblem(file=name, message=f"{where}: {error['msg']}"))
        return None


def _check_content(
    name: str, content: _ContentFile, today: date | None, problems: list[ContentProblem]
) -> None:
    numbers = [h.number for h in content.numbers]
    for number in {n for n in numbers if numbers.count(n) > 1}:
        problems.append(ContentProblem(file=name, message=f"number {number} is listed twice"))
    if EMERGENCY not in numbers:
        problems.append(ContentProblem(file=name, message=f"numbers must include {EMERGENCY}"))
    ids = [c.id for c in content.categories]
    for category_id in {i for i in ids if ids.count(i) > 1}:
        problems.append(ContentProblem(file=name, message=f"category {category_id} twice"))
    for category in content.categories:
        for number in category.numbers:
            if number not in numbers:
                problems.append(
                    ContentProblem(
                        file=name,
                        entry=category.id,
                        message=f"number {number} is not in the numbers list",
                    )
                )
        for language in ("uk", "en"):
            answer = getattr(category.answer, language)
            if len(answer) > CRISIS_ANSWER_MAX_CHARS:
                problems.append(
                    ContentProblem(
                        file=name,
                        entry=category.id,
                        message=f"answer.{language} is {len(answer)} characters, "
                        f"at most {CRISIS_ANSWER_MAX_CHARS} (it must fit a phone screen)",
                    )
                )
        if today is not None and category.reviewed > today:
            problems.append(
                ContentProblem(file=name, entry=category.id, message="reviewed in the future")
            )


def _check_signals(
    name: str, content: _ContentFile, signals: _SignalsFile, problems: list[ContentProblem]
) -> None:
    known = {c.id for c in content.categories}
    covered = set()
    for category in signals.categories:
        if category.id not in known:
            problems.append(
                ContentProblem(file=name, entry=category.id, message="category not in crisis.yaml")
            )
        covered.add(category.id)
        for pattern in category.patterns:
            _check_regex(name, category.id, pattern, problems)
    for pattern in signals.ignore:
        _check_regex(name, "ignore", pattern, problems)
    for missing in sorted(known - covered - {"emergency"}):
        problems.append(
            ContentProblem(file=name, entry=missing, message="no patterns for this category")
        )


def _check_regex(name: str, entry: str, pattern: str, problems: list[ContentProblem]) -> None:
    try:
        regex = _compile(pattern)
    except re.error as exc:
        problems.append(
            ContentProblem(file=name, entry=entry, message=f"bad pattern {pattern!r}: {exc}")
        )
        return
    if regex.search("  "):
        problems.append(
            ContentProblem(file=name, entry=entry, message=f"pattern {pattern!r} matches nothing")
        )
