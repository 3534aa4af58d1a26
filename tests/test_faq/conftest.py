"""Fixtures of the faq tests: the small fixture knowledge base, a writer of content folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from faq.knowledge import KnowledgeBase, load_knowledge_base
from faq.matcher import Matcher
from tests.test_faq.helpers import FIXTURE_CONTENT, TODAY, ContentWriter


@pytest.fixture
def write_content(tmp_path: Path) -> ContentWriter:
    """Write ``name=data`` pairs (dicts are dumped as YAML, strings written as is) into a folder."""

    def write(**files: dict[str, Any] | str) -> Path:
        folder = tmp_path / "content"
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        return folder

    return write


@pytest.fixture(scope="session")
def fixture_kb() -> KnowledgeBase:
    return load_knowledge_base(FIXTURE_CONTENT, today=TODAY)


@pytest.fixture(scope="session")
def fixture_matcher(fixture_kb: KnowledgeBase) -> Matcher:
    return Matcher.from_knowledge_base(fixture_kb)
