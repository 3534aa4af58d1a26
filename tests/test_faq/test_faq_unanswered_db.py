"""``python -m faq unanswered`` reads the bot's real database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from domain.clock import ManualClock
from domain.identity import ChannelName
from storage.consultations import NewConsultation
from storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parents[2]


async def seed(path: Path, clock: ManualClock) -> None:
    storage = await SqliteStorage.open(path)
    try:
        async with storage.transaction() as session:
            for question in ["Яка погода   завтра", "яка погода завтра", "курс біткоїна"]:
                await session.consultations.record(
                    NewConsultation(
                        None, ChannelName.TELEGRAM, None, "text", False, None, question
                    ),
                    now=clock.now(),
                )
            await session.consultations.record(
                NewConsultation(None, ChannelName.TELEGRAM, "shelters", "text", True, 0.9, "де"),
                now=clock.now(),
            )
    finally:
        await storage.close()


def test_unanswered_lists_the_most_frequent_questions(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    asyncio.run(seed(path, ManualClock()))
    result = subprocess.run(
        [sys.executable, "-m", "faq", "unanswered", "--database", f"sqlite:///{path}", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(result.stdout)
    assert [(row["text"], row["count"]) for row in rows] == [
        ("яка погода завтра", 2),
        ("курс біткоїна", 1),
    ]
