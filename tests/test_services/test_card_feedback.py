"""The resident's follow-up answer and rating on the staff card (``services.cards``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from domain.requests import Actor, EventKind, Status, StatusChange
from services.cards import feedback_lines, history_line, stars
from services.routing import load_routing
from tests.test_services.helpers import texts

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KYIV = ZoneInfo("Europe/Kyiv")
RESIDENT = Actor.resident(1)
OPERATOR = Actor.operator(42, "Олена")


def entry(event: EventKind, note: str | None, to: Status = Status.DONE) -> StatusChange:
    actor = OPERATOR if event is EventKind.STATUS else RESIDENT
    return StatusChange(1, 1, event, actor, AT, Status.DONE, to, note)


def lines(*history: StatusChange) -> list[str]:
    return feedback_lines(texts(), "uk", list(history))


def test_stars() -> None:
    assert stars(4) == "★★★★☆"
    assert stars(1) == "★☆☆☆☆"


def test_confirmed_done_with_a_rating() -> None:
    shown = lines(
        entry(EventKind.STATUS, None),
        entry(EventKind.FOLLOWUP, "yes"),
        entry(EventKind.RATING, "3"),
        entry(EventKind.RATING, "4"),  # pressed again: the latest counts
    )
    assert shown == ["Відгук заявника: підтвердив виконання", "Оцінка: ★★★★☆ 4/5"]


def test_not_done_then_reopened() -> None:
    answer = entry(EventKind.FOLLOWUP, "partly")
    assert lines(answer) == ["Відгук заявника: каже, що не виконано (частково)"]
    reopened = entry(EventKind.STATUS, "Води немає", to=Status.REOPENED)
    assert lines(answer, reopened) == [
        "Відгук заявника: каже, що не виконано (частково); заявку відкрито повторно"
    ]


def test_an_answer_about_an_earlier_resolution_is_not_shown_once_done_again() -> None:
    assert lines(entry(EventKind.FOLLOWUP, "no"), entry(EventKind.STATUS, None)) == []


def test_an_erased_residents_answer_and_rating_are_said_neutrally() -> None:
    assert lines(entry(EventKind.FOLLOWUP, None), entry(EventKind.RATING, None)) == []
    routing = load_routing()
    followup = history_line(texts(), "uk", entry(EventKind.FOLLOWUP, None), KYIV, routing)
    rating = history_line(texts(), "uk", entry(EventKind.RATING, None), KYIV, routing)
    assert "Заявник відповів, чи виконано" in followup
    assert "Заявник поставив оцінку" in rating
