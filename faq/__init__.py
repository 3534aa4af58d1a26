"""The knowledge base: content files, their validation, the offline matcher, shelters, a CLI.

Importing ``faq`` is cheap: names are resolved from their modules on first use, so the bot and
``python -m faq list`` do not load numpy, rapidfuzz or an embedding model until they need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faq.content_model import (
        Action,
        Entry,
        Keywords,
        Localized,
        RequestCategory,
        Section,
        Source,
    )
    from faq.errors import ContentError, ContentProblem, ShelterDataError, UnknownEntryError
    from faq.evaluation import EvalQuery, EvalReport, evaluate, load_queries
    from faq.knowledge import DEFAULT_CONTENT_DIR, KnowledgeBase, load_knowledge_base
    from faq.matcher import (
        ANSWER_MARGIN,
        ANSWER_THRESHOLD,
        SUGGEST_LIMIT,
        SUGGEST_RELATIVE,
        UNKNOWN_THRESHOLD,
        Decision,
        Match,
        Matcher,
        Verdict,
        decide,
    )
    from faq.semantic import E5Embedder, Embedder, load_e5_embedder
    from faq.shelters import (
        SAMPLE_SHELTERS_CSV,
        NearbyShelter,
        Shelter,
        ShelterDirectory,
        load_shelters,
        map_url,
    )

__all__ = [
    "ANSWER_MARGIN",
    "ANSWER_THRESHOLD",
    "DEFAULT_CONTENT_DIR",
    "SAMPLE_SHELTERS_CSV",
    "SUGGEST_LIMIT",
    "SUGGEST_RELATIVE",
    "UNKNOWN_THRESHOLD",
    "Action",
    "ContentError",
    "ContentProblem",
    "Decision",
    "E5Embedder",
    "Embedder",
    "Entry",
    "EvalQuery",
    "EvalReport",
    "Keywords",
    "KnowledgeBase",
    "Localized",
    "Match",
    "Matcher",
    "NearbyShelter",
    "RequestCategory",
    "Section",
    "Shelter",
    "ShelterDataError",
    "ShelterDirectory",
    "Source",
    "UnknownEntryError",
    "Verdict",
    "decide",
    "evaluate",
    "load_e5_embedder",
    "load_knowledge_base",
    "load_queries",
    "load_shelters",
    "map_url",
]

_HOME = {
    **dict.fromkeys(
        ["Action", "Entry", "Keywords", "Localized", "RequestCategory", "Section", "Source"],
        "faq.content_model",
    ),
    **dict.fromkeys(
        ["ContentError", "ContentProblem", "ShelterDataError", "UnknownEntryError"], "faq.errors"
    ),
    **dict.fromkeys(["EvalQuery", "EvalReport", "evaluate", "load_queries"], "faq.evaluation"),
    **dict.fromkeys(
        ["DEFAULT_CONTENT_DIR", "KnowledgeBase", "load_knowledge_base"], "faq.knowledge"
    ),
    **dict.fromkeys(
        [
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
        ],
        "faq.matcher",
    ),
    **dict.fromkeys(["E5Embedder", "Embedder", "load_e5_embedder"], "faq.semantic"),
    **dict.fromkeys(
        [
            "SAMPLE_SHELTERS_CSV",
            "NearbyShelter",
            "Shelter",
            "ShelterDirectory",
            "load_shelters",
            "map_url",
        ],
        "faq.shelters",
    ),
}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'faq' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
