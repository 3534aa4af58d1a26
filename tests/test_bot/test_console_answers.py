"""``python -m bot console``: an answer is shown in full at once, as ``run_console`` prints it.

A terminal has no phone-sized screen, so the console gets the full answer and its sources in
the first message (no "More details" to press); the action still comes before 👍/👎 and the
related topics are numbered buttons with their real titles.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.compose import Core, build_core
from bot.console import ConsoleChannel, run_console
from bot.settings import Settings
from faq.knowledge import load_knowledge_base
from handlers.consult import MAX_RELATED

Line = str | Callable[[ConsoleChannel], str]


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        telegram_token=None,
        viber_token=None,
        ops_port=None,
    )
    built = await build_core(settings)
    try:
        yield built
    finally:
        await built.close()


def press(label: str) -> Callable[[ConsoleChannel], str]:
    def number(channel: ConsoleChannel) -> str:
        labels = [button.label for button in channel.buttons]
        return str(next(i for i, text in enumerate(labels, 1) if label in text))

    return number


async def play(core: Core, lines: list[Line]) -> tuple[str, ConsoleChannel]:
    out = io.StringIO()
    channel = ConsoleChannel(out)
    script = iter(lines)

    async def read_line() -> str:
        line = next(script, None)
        if line is None:
            return ""
        typed = line if isinstance(line, str) else line(channel)
        out.write(typed + "\n")
        return typed + "\n"

    await run_console(core.conversation.handle, channel, read_line=read_line, greet=False)
    return out.getvalue(), channel


async def test_the_console_shows_the_full_answer_and_sources_at_once(core: Core) -> None:
    kb = load_knowledge_base()
    shelters = kb.entry("shelters")
    related = [kb.entry(i) for i in shelters.related[:MAX_RELATED]]
    shown, channel = await play(core, ["де найближче укриття"])
    assert "🤖 " + shelters.title.uk.upper() in shown
    assert shelters.answer.uk in shown
    assert "Джерела: ДСНС України (https://dsns.gov.ua)" in shown
    labels = [button.label for button in channel.buttons]
    assert not any("Детальніше" in label for label in labels)
    assert labels[0] == "🛡 Знайти найближче укриття"
    assert [label for label in labels if label.startswith("➡️ ")] == [
        "➡️ " + topic.title.uk for topic in related
    ]
    assert labels.index("🛡 Знайти найближче укриття") < labels.index("👍 Так")


async def test_a_related_topic_opens_in_full(core: Core) -> None:
    kb = load_knowledge_base()
    topic = kb.entry(kb.entry("shelters").related[0])
    shown, _ = await play(core, ["де найближче укриття", press(topic.title.uk)])
    opened = shown[shown.index("🤖 " + topic.title.uk.upper()) :]
    assert topic.answer.uk in opened
