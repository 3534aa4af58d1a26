"""The one-way layers (README, "The layers"), checked by import-linter.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and ``make lint`` runs them.
Here they run on the code as it is (kept) and on a copy with one deliberate offence each (an
upward import, a sideways import between the two middle packages, a messenger library below
``bot``, a benchmark importing the tests, the bot importing a test double), which must break
them: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "notifications", "services", "faq", "storage", "domain")
# Not shipped, but under contract too: the shared test doubles, the benchmarks, the tests.
SUPPORT = ("fakes", "bench", "tests")
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``root``'s pyproject.toml, importing the packages from ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_code(target: Path) -> Path:
    for package in PACKAGES + SUPPORT:
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=shutil.ignore_patterns("__pycache__", "results", ".hypothesis"),
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "offence", "reported"),
    [
        # The vocabulary reaching up into the conversation.
        (
            "domain/clock.py",
            "import handlers.conversation",
            "domain.clock -> handlers.conversation",
        ),
        # A service reaching into the delivery side.
        ("services/outbox.py", "import notifications.worker", "services.outbox -> notifications"),
        # The two middle packages are siblings that never import each other.
        ("handlers/menu.py", "import notifications.scheduler", "handlers.menu -> notifications"),
        # Storage importing the request lifecycle.
        ("storage/outbox.py", "import services.requests", "storage.outbox -> services.requests"),
        # A messenger library below the adapters.
        ("services/relay.py", "import aiogram", "services.relay -> aiogram"),
        # A benchmark borrowing from the tests instead of the shared doubles.
        ("bench/loadgen.py", "import tests.conftest", "bench.loadgen -> tests.conftest"),
        # The bot importing a test double.
        ("bot/ops.py", "import fakes.telegram_api", "bot.ops -> fakes.telegram_api"),
    ],
)
def test_an_offending_import_breaks_a_contract(
    tmp_path: Path, module: str, offence: str, reported: str
) -> None:
    root = copy_of_the_code(tmp_path)
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{offence}  # deliberate\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout
    assert reported in result.stdout, result.stdout
