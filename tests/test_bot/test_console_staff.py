"""``python -m bot console --staff``: both sides of a request in one terminal, no token.

The console is driven as ``run_console`` runs it (the composition root's core, the console
channel, the staff pane); between two typed lines the outbox is delivered, as the running
worker would.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import console_staff
from bot.compose import Core, build_core, create_notifier
from bot.console import ConsoleChannel, run_console
from bot.console_staff import STAFF_CHAT
from bot.notifier import Notifier
from bot.settings import Settings
from domain.clock import ManualClock
from domain.identity import ChannelName


@dataclass(frozen=True)
class Do:
    """Not a typed line: something that happens between two lines (time passes, a job ticks)."""

    action: Callable[[Notifier], Awaitable[object]]


Line = str | Callable[[ConsoleChannel], str] | Do


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        quiet_hours="",
        telegram_token=None,
        viber_token=None,
        ops_port=None,
    )


@pytest.fixture
async def core(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Core]:
    built = await build_core(settings_for(tmp_path), clock=clock, console_staff=True)
    try:
        yield built
    finally:
        await built.close()


def press(label: str) -> Callable[[ConsoleChannel], str]:
    """The number of the resident's button whose label contains ``label``."""

    def number(channel: ConsoleChannel) -> str:
        labels = [button.label for button in channel.buttons]
        return str(next(i for i, text in enumerate(labels, 1) if label in text))

    return number


def staff_press(label: str) -> Callable[[ConsoleChannel], str]:
    """``staff N`` for the latest staff card's button whose label contains ``label``."""

    def number(channel: ConsoleChannel) -> str:
        labels = [button.label for button in channel.staff_buttons]
        return "staff " + str(next(i for i, text in enumerate(labels, 1) if label in text))

    return number


def consent_if_asked(channel: ConsoleChannel) -> str:
    labels = [button.label for button in channel.buttons]
    agreed = [i for i, text in enumerate(labels, 1) if "погоджуюся" in text]
    return str(agreed[0]) if agreed else ""


FILE_REQUEST: list[Line] = [
    press("Нова заявка"),
    press("Водопостачання"),
    press("Тернівський"),
    consent_if_asked,
    "вул. Світлогірська, 10",
    "Немає холодної води з самого ранку",
    "photo",
    press("Готово"),
    "067 123 45 67",
    press("Підтвердити"),
]


def a_day_later(core: Core, clock: ManualClock) -> Do:
    """FOLLOWUP_DELAY passes and the follow-up job ticks: the resident is asked."""

    async def tick(notifier: Notifier) -> None:
        clock.advance(core.settings.followup_delay + timedelta(minutes=1))
        await notifier.jobs.followups_tick()

    return Do(tick)


async def play(core: Core, lines: list[Line]) -> str:
    """Type ``lines`` into the console with the staff pane; what the terminal shows."""
    out = io.StringIO()
    channel = ConsoleChannel(out)
    notifier = create_notifier(core, {ChannelName.CONSOLE: channel}, with_scheduler=False)
    staff = console_staff(core, channel)
    script = iter(lines)

    async def read_line() -> str:
        await notifier.worker.drain()  # what the running worker delivers between two lines
        line = next(script, None)
        while isinstance(line, Do):
            await line.action(notifier)
            await notifier.worker.drain()
            line = next(script, None)
        if line is None:
            return ""
        typed = line if isinstance(line, str) else line(channel)
        # Echoed on a line of its own (the worker may have printed after the prompt).
        out.write(("" if out.getvalue().endswith("\n") else "\n") + typed + "\n")
        return typed + "\n"

    try:
        await run_console(core.conversation.handle, channel, read_line=read_line, staff=staff)
    finally:
        await notifier.close()
    return out.getvalue()


def read(path: Path) -> bytes:
    return path.read_bytes()


def after(shown: str, marker: str) -> str:
    assert marker in shown, shown[-3000:]
    return shown[shown.index(marker) :]


async def test_a_request_from_filing_to_done_on_both_sides(core: Core) -> None:
    assert core.requests.staff_chat == STAFF_CHAT
    shown = await play(
        core,
        [
            *FILE_REQUEST,
            staff_press("В роботі"),
            staff_press("Виконано"),
            "staff /find 1520-000001",
        ],
    )
    filed = after(shown, "\n067 123 45 67")
    # The card reaches the staff pane, its buttons numbered.
    assert "[staff] 🤖 ЗАЯВКА 1520-000001" in filed.upper() or "[staff]" in filed
    card = after(filed, "[staff]")
    assert "1520-000001" in card
    assert "[staff] [1] " in card
    # "В роботі" pressed: the card is shown again, and the resident is told (no [staff] mark).
    pressed = after(card, "\nstaff ")
    assert "[staff] Готово: В роботі. Мешканця повідомлено." in pressed
    resident_lines = [line for line in pressed.splitlines() if "[staff]" not in line]
    assert any("1520-000001" in line for line in resident_lines), pressed
    assert "Виконано" in after(pressed, "\nstaff ")


async def test_the_follow_up_after_done_is_answered_and_shown_on_the_card(
    core: Core, clock: ManualClock
) -> None:
    shown = await play(
        core,
        [
            *FILE_REQUEST,
            staff_press("Виконано"),
            a_day_later(core, clock),
            press("Так"),
            press("5"),
            press("Пропустити"),
        ],
    )
    asked = after(shown, "чи справді проблему розв'язано?")
    assert "Оцініть, будь ласка, якість виконання" in asked
    assert "Дякуємо за відгук!" in asked
    # The card in the staff pane is printed again with the resident's answer and rating.
    updated = asked[asked.rindex("(КАРТКУ ОНОВЛЕНО)") :]
    assert "Відгук заявника: підтвердив виконання" in updated
    assert "Оцінка: ★★★★★ 5/5" in updated


async def test_a_follow_up_answered_not_done_reopens_the_request_on_the_card(
    core: Core, clock: ManualClock
) -> None:
    shown = await play(
        core,
        [
            *FILE_REQUEST,
            staff_press("Виконано"),
            a_day_later(core, clock),
            press("Ні"),
            "Вода так і не з'явилася, крани сухі",
        ],
    )
    asked = after(shown, "чи справді проблему розв'язано?")
    assert "Заявку 1520-000001 відкрито повторно" in asked
    updated = asked[asked.rindex("(КАРТКУ ОНОВЛЕНО)") :]
    assert "заявку відкрито повторно" in updated
    assert "Статус: Відкрито повторно" in updated


async def test_a_note_is_asked_for_on_the_next_staff_line(core: Core) -> None:
    shown = await play(
        core,
        [*FILE_REQUEST, staff_press("Відхилено"), "staff Це не до міської служби"],
    )
    asked = after(shown, "(type: staff TEXT)")
    assert "Заявка 1520-000001: Відхилено. Мешканця повідомлено." in asked
    assert "Це не до міської служби" in asked


async def test_stats_write_the_chart_to_a_file(core: Core, tmp_path: Path) -> None:
    shown = await play(core, [*FILE_REQUEST, "staff /stats today", "staff /export today"])
    chart = Path(after(shown, "📈 chart: ").splitlines()[0].removeprefix("📈 chart: "))
    assert read(chart).startswith(b"\x89PNG")
    assert chart.parent == tmp_path / "staff"
    table = Path(after(shown, "📄 CSV: ").splitlines()[0].removeprefix("📄 CSV: "))
    assert b"1520-000001" in read(table)


async def test_the_operator_answers_a_relay_message(core: Core) -> None:
    shown = await play(
        core,
        [
            press("Оператор"),
            "Підкажіть, куди звернутися щодо ліфта?",
            "staff Добрий день! Зателефонуйте, будь ласка, 1520.",
            staff_press("Закрити розмову"),
        ],
    )
    relayed = after(shown, "[staff] ")
    assert "Підкажіть, куди звернутися щодо ліфта?" in relayed
    answer = after(relayed, "\nstaff Добрий день")
    resident_lines = [line for line in answer.splitlines() if not line.startswith("[staff]")]
    assert any("Зателефонуйте, будь ласка, 1520." in line for line in resident_lines[1:])


async def test_the_default_console_has_no_staff_pane(tmp_path: Path) -> None:
    core = await build_core(settings_for(tmp_path))
    try:
        assert core.requests.staff_chat is None
    finally:
        await core.close()


async def test_a_changed_card_is_printed_again_marked_as_updated(core: Core) -> None:
    shown = await play(
        core,
        [
            *FILE_REQUEST,
            staff_press("Потрібна інформація"),
            "staff Який номер під'їзду?",
            press("Відповісти"),
            "Третій під'їзд",
        ],
    )
    asked = after(shown, "\nstaff Який номер під'їзду?")
    # The operator's change: the card the pane showed is printed once more, marked updated.
    updated = after(asked, "(КАРТКУ ОНОВЛЕНО)")
    assert "[staff] Статус: Потрібна інформація" in updated
    assert asked.count("(КАРТКУ ОНОВЛЕНО)") >= 1
    # The resident's answer (a change made on the other side) updates it again.
    answered = after(shown, "\nТретій під'їзд")
    again = after(answered, "(КАРТКУ ОНОВЛЕНО)")
    assert "Відповідь заявника: «Третій під'їзд»" in again
    # The change prints the card once (the update), not a second copy beside it.
    change = asked[: asked.index("Щодо вашої заявки")]
    assert change.count("ЗАЯВКА 1520-000001") == 1
