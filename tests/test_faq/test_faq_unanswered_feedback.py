"""``faq unanswered`` lists misroutes next to misses: answers residents marked "not helpful"
and topic suggestions they did not take, read from a real SQLite file that a conversation wrote."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.clock import ManualClock
from domain.messages import ChannelName, Incoming, Kind, UserRef
from fakes.recording import Resident
from faq.cli import main
from faq.matcher import Decision
from faq.unanswered import database_feedback, database_unanswered
from storage.sqlite import SqliteStorage
from tests.test_handlers.consult_helpers import consult_conversation, offered_topics
from tests.test_handlers.test_consult import knowledge

ROOT = Path(__file__).resolve().parents[2]

ANSWERED = "як отримати довідку ВПО"  # answered at once: idp_registration
VAGUE = "допомога"  # only topic suggestions
VAGUE_TAKEN = "документи"  # only topic suggestions; "Відновлення документів" is pressed
UNKNOWN = "яка погода завтра"  # nothing fits


@dataclass(frozen=True)
class Lived:
    url: str
    topics: Counter[str]  # consultations per topic, as the statistics count them


async def live(path: Path) -> Lived:
    """Six residents: two mark the same answer not helpful, one finds it helpful, one leaves
    suggestions for another question, one takes a suggestion and marks it not helpful, one
    presses a button of someone else's suggestions."""
    storage = await SqliteStorage.open(path)
    try:
        conversation = consult_conversation(storage, ManualClock())

        def resident(channel: ChannelName, user_id: str) -> Resident:
            return Resident(conversation, UserRef(channel, user_id))

        ann, bea, cat = (
            resident(ChannelName.TELEGRAM, "1"),
            resident(ChannelName.VIBER, "2"),
            resident(ChannelName.CONSOLE, "3"),
        )
        for person, said in ((ann, ANSWERED), (bea, "  Як отримати  довідку ВПО")):
            await person.say(said)
            assert person.last[0].title is not None, person.text
            await person.press("👎 Ні")
            assert "Дякуємо" in person.text
        await cat.say(ANSWERED)
        await cat.press("👍 Так")

        dan = resident(ChannelName.TELEGRAM, "4")
        await dan.say(VAGUE)
        assert "Можливо" in dan.text
        dans_offer = dan.last[0].all_buttons[0].payload
        await dan.say(UNKNOWN)  # wrote something else instead of pressing a suggestion
        assert "не знайшов" in dan.text

        eve = resident(ChannelName.TELEGRAM, "5")
        await eve.say(VAGUE_TAKEN)
        assert "Можливо" in eve.text
        await eve.press("Відновлення документів")
        assert eve.last[0].title == "Відновлення документів"
        await eve.press("👎 Ні")

        fay = resident(ChannelName.TELEGRAM, "6")
        await fay.send(Incoming(fay.user, Kind.BUTTON, payload=dans_offer))
        assert fay.last[0].title is not None  # public content, answered as browsing

        async with storage.transaction() as session:
            by_topic = await session.stats.consultations_by_topic(start=None, end=None)
        assert by_topic is not None
        return Lived(f"sqlite:///{path}", Counter(by_topic))
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def lived(tmp_path_factory: pytest.TempPathFactory) -> Lived:
    return asyncio.run(live(tmp_path_factory.mktemp("feedback") / "bot.sqlite3"))


def report(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["unanswered", *args],
        unanswered_provider=database_unanswered,
        feedback_provider=database_feedback,
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    return out.getvalue()


def without_now(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in row.items() if key != "now"} for row in rows]


def test_not_helpful_answers_are_listed_with_the_topic_given(lived: Lived) -> None:
    data = json.loads(report("--database", lived.url, "--json-all"))
    assert without_now(data["not_helpful"]) == [
        {"text": "як отримати довідку впо", "topic": "idp_registration", "count": 2},
        # A suggestion taken and then marked not helpful keeps the question it was offered for.
        {"text": "документи", "topic": "documents", "count": 1},
    ]
    assert data["not_helpful"][0]["now"] == "idp_registration"  # still the same answer today


def test_suggestions_not_taken_are_listed_and_taken_ones_are_not(lived: Lived) -> None:
    _, matcher = knowledge()
    assert matcher.classify(VAGUE).decision is Decision.SUGGEST
    data = json.loads(report("--database", lived.url, "--json-all"))
    # Dan's offer stays not taken although another resident pressed one of its buttons.
    assert without_now(data["suggestions_not_taken"]) == [
        {"text": "допомога", "topics": offered_topics(VAGUE), "count": 1}
    ]


def test_the_unanswered_section_and_its_json_are_unchanged(lived: Lived) -> None:
    old = json.loads(report("--database", lived.url, "--json"))
    assert old == [{"text": "яка погода завтра", "count": 1, "now": None}]
    assert json.loads(report("--database", lived.url, "--json-all"))["unanswered"] == old


def test_the_text_report_has_the_three_sections(lived: Lived) -> None:
    text = report("--database", lived.url)
    unanswered, rest = text.split("not helpful (", 1)
    not_helpful, not_taken = rest.split("suggestions not taken (", 1)
    assert "яка погода завтра" in unanswered
    assert "як отримати довідку впо" in not_helpful
    assert "idp_registration" in not_helpful
    assert "допомога" in not_taken
    assert ", ".join(offered_topics(VAGUE)) in not_taken
    assert "документи" not in not_taken


def test_statistics_count_consultations_only(lived: Lived) -> None:
    # An offer of suggestions is not a consultation; a pressed suggestion is one, as before.
    assert lived.topics == Counter(
        {
            "idp_registration": 3,
            "": 1,
            "documents": 1,
            offered_topics(VAGUE)[0]: 1,
        }
    )


def test_python_m_faq_reads_every_section(lived: Lived) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "faq", "unanswered", "--database", lived.url, "--json-all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    data = json.loads(result.stdout)
    assert [row["count"] for row in data["not_helpful"]] == [2, 1]
    assert [row["text"] for row in data["suggestions_not_taken"]] == ["допомога"]
    assert [row["text"] for row in data["unanswered"]] == ["яка погода завтра"]


def test_without_a_reader_of_misroutes_the_sections_say_so() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["unanswered", "--json-all"],
        unanswered_provider=lambda _url: [("де укриття", 1)],
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert data["not_helpful"] is None
    assert data["suggestions_not_taken"] is None
    assert data["unanswered"][0]["text"] == "де укриття"
