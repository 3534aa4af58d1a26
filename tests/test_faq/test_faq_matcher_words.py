"""The matcher's word-by-word shortcuts give the textbook scores, cached or not."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from faq.knowledge import KnowledgeBase
from faq.matcher import Matcher, _NgramIndex, _word_ngrams
from faq.text import content_tokens

KNOWN_WORDS = ["укриття", "довідка", "переселенців", "світла", "вода", "допомога", "де", "як"]
LETTERS = "абвгдеєжзиіїйклмнопрстуфхцчшщьюя"


def textbook_cosine(index: _NgramIndex, words: list[str]) -> NDArray[np.float64]:
    """TF-IDF cosine with sublinear TF, straight from the definition (the matcher's model)."""
    grams = Counter(gram for word in words for gram in _word_ngrams(word))
    weights: dict[int, float] = {}
    norm = 0.0
    for gram, n in grams.items():
        term = index._terms.get(gram)
        idf = index._unknown_idf if term is None else float(index._idf[term])
        weight = (1 + math.log(n)) * idf
        norm += weight * weight
        if term is not None:
            weights[term] = weight
    scores = np.zeros(index._count)
    for term, weight in weights.items():
        for k in range(index._start[term], index._start[term + 1]):
            scores[index._docs[k]] += index._weights[k] * weight / math.sqrt(norm)
    return scores


words_strategy = st.lists(
    st.one_of(
        st.sampled_from(KNOWN_WORDS),
        st.text(alphabet=LETTERS, min_size=1, max_size=12),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(words=words_strategy)
def test_cosine_matches_the_definition(fixture_kb: KnowledgeBase, words: list[str]) -> None:
    matcher = Matcher.from_knowledge_base(fixture_kb)
    text = " ".join(words)
    tokens = content_tokens(text)
    if not tokens:
        return
    features = matcher._features(tokens)
    for index, pick in ((matcher._units, 0), (matcher._profiles, 1)):
        expected = textbook_cosine(index, tokens)
        got = index.cosine([(features[w].units, features[w].profiles)[pick] for w in tokens])
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(words=words_strategy)
def test_a_warm_cache_changes_no_score(fixture_kb: KnowledgeBase, words: list[str]) -> None:
    text = " ".join(words)
    cold = Matcher.from_knowledge_base(fixture_kb).components(text)
    warm_matcher = Matcher.from_knowledge_base(fixture_kb)
    warm_matcher.components(" ".join(reversed(words)) + " укриття")  # fills the cache
    warm = warm_matcher.components(text)
    for part, values in cold.items():
        np.testing.assert_array_equal(warm[part], values)


def test_the_word_cache_is_bounded(
    fixture_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faq import matcher as module  # noqa: PLC0415

    monkeypatch.setattr(module, "WORD_CACHE_SIZE", 20)
    matcher = Matcher.from_knowledge_base(fixture_kb)
    for i in range(50):
        matcher.classify(f"слово{LETTERS[i % 32]}{LETTERS[i // 32]} укриття")
    assert len(matcher._words) == 20
    assert matcher.classify("де укриття").best is not None
