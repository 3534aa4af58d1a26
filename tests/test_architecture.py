"""Messenger libraries stay inside bot/ (STYLE habit 1): checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("aiogram", "viberbot", "aiohttp")
NEUTRAL_PACKAGES = ("domain", "handlers", "faq", "storage", "notifications", "services")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", NEUTRAL_PACKAGES)
def test_neutral_packages_import_no_messenger_library(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("package", NEUTRAL_PACKAGES)
def test_neutral_packages_do_not_reach_into_bot(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported_modules(path)
        if name == "bot" or name.startswith("bot.")
    ]
    assert not offenders, "\n".join(offenders)


def test_the_check_itself_detects_an_offender(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("from aiogram import Bot\nimport aiohttp.web\n", encoding="utf-8")
    assert {"aiogram", "aiohttp.web"} <= imported_modules(sample)
