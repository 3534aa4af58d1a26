"""Figures for a period (Europe/Kyiv days) and their text: the digest, ``/stats`` and ``/export``.

Everything is counted by SQL (``StoreSession.stats``); this module picks the periods, puts the
numbers together and words them. Consultations come from the consultations feature's table when
it exists and are left out otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.requests import format_number
from domain.texts import Texts
from notifications.quiet import local_moment
from storage.base import StoreSession
from storage.stats import ExportRow

__all__ = [
    "Figures",
    "Labels",
    "Period",
    "PeriodError",
    "compute_figures",
    "day_period",
    "export_csv",
    "parse_period",
    "render_figures",
]

MAX_PERIOD_DAYS = 366
_DAYS = re.compile(r"^(\d{1,3})d$")


class PeriodError(ValueError):
    """A period the staff typed that is not understood."""


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` as UTC-aware instants, from local midnights; ``first``/``last`` are the
    local dates it covers (for display)."""

    start: datetime
    end: datetime
    first: date
    last: date

    def label(self) -> str:
        if self.first == self.last:
            return self.first.strftime("%d.%m.%Y")
        return f"{self.first.strftime('%d.%m.%Y')} – {self.last.strftime('%d.%m.%Y')}"


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return local_moment(datetime.combine(day, time(12), tzinfo=tz), time(0), tz)


def day_period(first: date, tz: ZoneInfo, last: date | None = None) -> Period:
    """Whole local days ``first``..``last`` (DST days are 23 or 25 hours, as they should be)."""
    last = last or first
    return Period(_midnight(first, tz), _midnight(last + timedelta(days=1), tz), first, last)


def parse_period(text: str, *, now: datetime, tz: ZoneInfo) -> Period:
    """``""``/``yesterday`` (the default), ``today``, ``7d`` (the last 7 days with today),
    ``2026-11-24`` or ``2026-11-01 2026-11-24`` (inclusive)."""
    today = now.astimezone(tz).date()
    words = text.strip().lower().split()
    if not words or words in (["yesterday"], ["вчора"]):
        return day_period(today - timedelta(days=1), tz)
    if words in (["today"], ["сьогодні"]):
        return day_period(today, tz)
    if len(words) == 1 and (match := _DAYS.match(words[0])):
        days = int(match.group(1))
        if not 1 <= days <= MAX_PERIOD_DAYS:
            raise PeriodError(f"from 1 to {MAX_PERIOD_DAYS} days")
        return day_period(today - timedelta(days=days - 1), tz, today)
    if len(words) in (1, 2):
        try:
            first = date.fromisoformat(words[0])
            last = date.fromisoformat(words[-1])
        except ValueError as error:
            raise PeriodError("dates look like 2026-11-24") from error
        if last < first:
            raise PeriodError("the second date is before the first")
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise PeriodError(f"at most {MAX_PERIOD_DAYS} days")
        return day_period(first, tz, last)
    raise PeriodError("not a period")


@dataclass(frozen=True, slots=True)
class Figures:
    """The numbers of one period (``period`` None: all time, the running totals)."""

    period: Period | None
    requests: int
    by_category: Mapping[str, int]
    by_district: Mapping[str, int]
    by_executor: Mapping[str, int]
    done: int
    done_late: int
    overdue_open: int
    followup_answers: Mapping[str, int]
    average_rating: float | None
    ratings: int
    consultations: Mapping[str, int] | None
    unanswered: list[tuple[str, int]] | None

    @property
    def answered(self) -> int:
        return sum(self.followup_answers.values())

    @property
    def really_done_rate(self) -> float | None:
        """The "Так" share among answered follow-ups (None when nobody answered)."""
        if not self.answered:
            return None
        return self.followup_answers.get("yes", 0) / self.answered

    @property
    def consultations_total(self) -> int | None:
        return None if self.consultations is None else sum(self.consultations.values())


async def compute_figures(
    session: StoreSession, period: Period | None, *, now: datetime, questions: int = 5
) -> Figures:
    """Every figure of ``period`` (or all time) in one transaction."""
    start = period.start if period else None
    end = period.end if period else None
    stats = session.stats
    done, late = await stats.resolutions(start=start, end=end)
    average, ratings = await stats.rating_summary(start=start, end=end)
    # Overdue is a snapshot: open requests whose deadline had passed by the end of the period
    # (or now, for a period that has not ended yet).
    overdue_at = min(end, now) if end is not None else now
    return Figures(
        period=period,
        requests=await stats.requests_count(start=start, end=end),
        by_category=await stats.requests_by("category", start=start, end=end),
        by_district=await stats.requests_by("district", start=start, end=end),
        by_executor=await stats.requests_by("executor_id", start=start, end=end),
        done=done,
        done_late=late,
        overdue_open=await stats.overdue_open(at=overdue_at),
        followup_answers=await stats.followup_answers(start=start, end=end),
        average_rating=average,
        ratings=ratings,
        consultations=await stats.consultations_by_topic(start=start, end=end),
        unanswered=await stats.unanswered_questions(start=start, end=end, limit=questions),
    )


@dataclass(frozen=True)
class Labels:
    """Human names for the codes in the figures (categories, districts, executors, topics)."""

    texts: Texts
    language: str = "uk"
    executor_name: Callable[[str], str] = str
    topic_name: Callable[[str], str] = str

    def category(self, code: str) -> str:
        return self._known(f"req_cat_{code}", code)

    def district(self, code: str) -> str:
        return self._known(f"req_district_{code or 'unknown'}", code)

    def topic(self, code: str) -> str:
        return self.topic_name(code) if code else self.texts.get(self.language, "ntf_st_unmatched")

    def _known(self, key: str, fallback: str) -> str:
        catalog = self.texts.catalogs.get(self.language, {})
        return self.texts.get(self.language, key) if key in catalog else fallback


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _rating(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _top(counts: Mapping[str, int], name: Callable[[str], str], limit: int = 8) -> str:
    items = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines = [f"  • {name(code)}: {count}" for code, count in items[:limit]]
    if len(items) > limit:
        lines.append(f"  • …: {sum(count for _, count in items[limit:])}")
    return "\n".join(lines) if lines else "  —"


def render_figures(figures: Figures, totals: Figures | None, labels: Labels) -> str:
    """The figures as plain text (the digest's and ``/stats``'s message body)."""
    t = labels.texts.get
    lang = labels.language
    parts = [
        t(lang, "ntf_st_requests", count=figures.requests),
        t(lang, "ntf_st_by_category") + "\n" + _top(figures.by_category, labels.category),
        t(lang, "ntf_st_by_district") + "\n" + _top(figures.by_district, labels.district),
        t(lang, "ntf_st_by_executor") + "\n" + _top(figures.by_executor, labels.executor_name),
        t(
            lang,
            "ntf_st_done",
            done=figures.done,
            late=figures.done_late,
            overdue=figures.overdue_open,
        ),
        t(
            lang,
            "ntf_st_followups",
            rate=_percent(figures.really_done_rate),
            answered=figures.answered,
            rating=_rating(figures.average_rating),
            ratings=figures.ratings,
        ),
    ]
    if figures.consultations is not None:
        parts.append(
            t(lang, "ntf_st_consultations", count=figures.consultations_total or 0)
            + "\n"
            + _top(figures.consultations, labels.topic)
        )
    if figures.unanswered:
        lines = "\n".join(
            f"  • «{question[:120]}» — {count}" for question, count in figures.unanswered
        )
        parts.append(t(lang, "ntf_st_unanswered") + "\n" + lines)
    if totals is not None:
        consultations = (
            t(lang, "ntf_st_totals_consultations", count=totals.consultations_total)
            if totals.consultations_total is not None
            else ""
        )
        parts.append(
            t(
                lang,
                "ntf_st_totals",
                requests=totals.requests,
                done=totals.done,
                overdue=totals.overdue_open,
                rate=_percent(totals.really_done_rate),
                rating=_rating(totals.average_rating),
            )
            + consultations
        )
    return "\n\n".join(parts)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a quote."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(rows: list[ExportRow], *, tz: ZoneInfo, personal: bool) -> bytes:
    """The requests as CSV (UTF-8 with a BOM so Excel reads Cyrillic), times in city time."""

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    out = io.StringIO()
    writer = csv.writer(out)
    header = [
        "number", "created", "channel", "category", "district", "status", "executor",
        "class", "urgent", "ack_due", "resolve_due", "acknowledged", "done",
        "followup", "rating", "photos",
    ]  # fmt: skip
    if personal:
        # A photo is a picture of someone's home or street: its references (a kept file's
        # ``media:<sha256>.<ext>`` or a platform file id) go out only with the personal data.
        header += ["phone", "address", "description", "photo_refs"]
    writer.writerow(header)
    for row in rows:
        line: list[object] = [
            format_number(row.id), when(row.created_at), row.channel, row.category,
            row.district or "", row.status, row.executor_id, row.service_class,
            "1" if row.urgent else "0", when(row.ack_due), when(row.resolve_due),
            when(row.acknowledged_at), when(row.done_at), row.followup_outcome or "",
            row.followup_rating if row.followup_rating is not None else "",
            len(row.photos),
        ]  # fmt: skip
        if personal:
            line += [row.phone, row.address, row.description, " ".join(row.photos)]
        writer.writerow([_cell(value) for value in line])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
