"""Statistics by SQL over seeded data, in Kyiv days; the chart, the digest, the CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.clock import ManualClock
from domain.identity import ChannelName, UserRef
from domain.requests import Category, District, RequestDraft, Status
from notifications.charts import PNG_SIGNATURE
from notifications.digest import DigestJob, build_report, load_report
from notifications.stats import (
    Labels,
    PeriodError,
    compute_figures,
    day_period,
    export_csv,
    parse_period,
)
from storage.consultations import NewConsultation
from storage.followups import FollowupOutcome
from storage.sqlite import SqliteStorage
from tests.test_notifications.helpers import (
    ALICE,
    BOB,
    STAFF,
    file_request,
    make_requests,
    messages,
    replies,
    set_status,
    texts,
)

# Run on SQLite and on PostgreSQL: the storage fixture is parametrized (tests/conftest.py).
pytestmark = pytest.mark.both_backends

KYIV = ZoneInfo("Europe/Kyiv")
YESTERDAY = date(2026, 11, 24)


def kyiv(*args: int) -> datetime:
    return datetime(*args, tzinfo=KYIV)  # type: ignore[arg-type, misc]  # year, month, day... as ints


def draft(
    category: Category, district: District | None, description: str = "Опис проблеми"
) -> RequestDraft:
    return RequestDraft(
        category=category, description=description, district=district, phone="0671234567"
    )


async def seed(storage: SqliteStorage, clock: ManualClock) -> dict[str, int]:
    """Requests around yesterday's Kyiv midnights, follow-ups and consultations."""
    service = make_requests(clock)
    ids: dict[str, int] = {}

    async def at(moment: datetime, name: str, item: RequestDraft, user: UserRef = ALICE) -> None:
        clock.set(moment)
        ids[name] = (await file_request(storage, service, user, clock, item)).id

    await at(kyiv(2026, 11, 1, 10), "old_open", draft(Category.WATER, District.INHULETSKYI))
    await at(kyiv(2026, 11, 10, 10), "old_late", draft(Category.HEATING, District.INHULETSKYI))
    await at(kyiv(2026, 11, 23, 23, 30), "before", draft(Category.WATER, District.TERNIVSKYI))
    await at(kyiv(2026, 11, 24, 0, 30), "y1", draft(Category.WATER, District.TERNIVSKYI))
    await at(kyiv(2026, 11, 24, 10), "y2", draft(Category.ROADS_YARDS, District.POKROVSKYI), BOB)
    await at(kyiv(2026, 11, 24, 23, 59), "y3", draft(Category.WATER, None))
    await at(kyiv(2026, 11, 25, 0, 1), "today", draft(Category.WASTE, District.POKROVSKYI))

    clock.set(kyiv(2026, 11, 24, 11))
    await set_status(storage, service, ids["y1"], Status.DONE)  # in time
    await set_status(storage, service, ids["old_late"], Status.DONE)  # after its 24 h
    await set_status(storage, service, ids["y2"], Status.REJECTED, "Не наша компетенція")

    async with storage.transaction() as session:
        for name, outcome, rating in (
            ("y1", FollowupOutcome.YES, 5),
            ("old_late", FollowupOutcome.YES, 3),
            ("before", FollowupOutcome.NO, None),
        ):
            request = await session.requests.get(ids[name])
            assert request is not None
            followup = await session.followups.create(
                request_id=request.id,
                resolution_at=request.created_at,
                resident_id=request.resident_id,
                now=clock.now(),
            )
            assert followup is not None
            await session.followups.answer(followup.id, outcome, now=clock.now())
            if rating:
                await session.followups.set_rating(followup.id, rating)
        for topic, matched, question in (
            ("idp_certificate", True, None),
            ("idp_certificate", True, None),
            ("shelters", True, None),
            (None, False, "Де взяти питну воду?"),
            (None, False, "де взяти питну воду?"),
            (None, False, "Коли дадуть світло"),
        ):
            await session.consultations.record(
                NewConsultation(
                    resident_id=None,
                    channel=ChannelName.TELEGRAM,
                    topic=topic,
                    source="text",
                    matched=matched,
                    question=question,
                ),
                now=clock.now(),
            )
    clock.set(kyiv(2026, 11, 25, 9))
    return ids


async def test_yesterdays_figures_follow_kyiv_midnights(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    await seed(storage, clock)
    period = day_period(YESTERDAY, KYIV)
    async with storage.transaction() as session:
        figures = await compute_figures(session, period, now=clock.now())
        totals = await compute_figures(session, None, now=clock.now())
    assert figures.requests == 3  # 00:30 and 23:59 Kyiv count; 23:30 the day before does not
    assert figures.by_category == {"water": 2, "roads_yards": 1}
    assert figures.by_district == {"ternivskyi": 1, "pokrovskyi": 1, "": 1}
    assert (figures.done, figures.done_late) == (2, 1)
    # Open past their 24 h by the end of the day: 1 November's, and 23 November's 23:30 one.
    assert figures.overdue_open == 2
    assert figures.followup_answers == {"yes": 2, "no": 1}
    assert figures.really_done_rate == pytest.approx(2 / 3)
    assert (figures.average_rating, figures.ratings) == (4.0, 2)
    assert figures.consultations == {"idp_certificate": 2, "shelters": 1, "": 3}
    assert figures.unanswered is not None
    assert [count for _, count in figures.unanswered] == [2, 1]
    assert totals.requests == 7
    assert totals.consultations_total == 6


async def test_the_report_text_and_chart(storage: SqliteStorage, clock: ManualClock) -> None:
    await seed(storage, clock)
    report = await load_report(storage, day_period(YESTERDAY, KYIV), now=clock.now())
    text, image = await build_report(report, Labels(texts()), title="Підсумки за 24.11.2026")
    assert "Нових заявок: 3" in text.text
    assert "🚰 Водопостачання: 2" in text.text
    assert "67%" in text.text
    assert "4.0" in text.text
    assert "Де взяти питну воду?" in text.text or "де взяти питну воду?" in text.text
    assert image.image is not None
    assert image.image.startswith(PNG_SIGNATURE)
    assert len(image.image) > 5000


async def test_the_digest_is_queued_once_a_day_after_its_time(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    await seed(storage, clock)
    job = DigestJob(
        storage, texts(), clock, staff_chat=STAFF, digest_time=datetime.min.time().replace(hour=10)
    )
    clock.set(kyiv(2026, 11, 25, 9, 59))
    assert not await job.tick()
    clock.set(kyiv(2026, 11, 25, 10, 0))
    assert await job.tick()
    assert not await job.tick()
    [digest] = [m for m in await messages(storage) if m.kind == "digest"]
    assert digest.idempotency_key == "digest:2026-11-25"
    assert digest.chat == STAFF
    text, image = replies(digest)
    assert "24.11.2026" in (text.title or "")
    assert image.image is not None
    assert image.image.startswith(PNG_SIGNATURE)
    clock.advance(timedelta(days=1))
    assert await job.tick()


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("", date(2026, 11, 24), date(2026, 11, 24)),
        ("today", date(2026, 11, 25), date(2026, 11, 25)),
        ("7d", date(2026, 11, 19), date(2026, 11, 25)),
        ("2026-11-01 2026-11-24", date(2026, 11, 1), date(2026, 11, 24)),
        ("2026-03-29", date(2026, 3, 29), date(2026, 3, 29)),
    ],
)
def test_periods(text: str, first: date, last: date) -> None:
    period = parse_period(text, now=kyiv(2026, 11, 25, 9), tz=KYIV)
    assert (period.first, period.last) == (first, last)
    assert period.start == datetime.combine(first, datetime.min.time(), tzinfo=KYIV)
    assert period.end == datetime.combine(
        last + timedelta(days=1), datetime.min.time(), tzinfo=KYIV
    )


def test_a_dst_day_is_23_hours() -> None:
    period = day_period(date(2026, 3, 29), KYIV)
    assert period.end - period.start == timedelta(hours=23)


@pytest.mark.parametrize("text", ["soon", "0d", "2026-11-24 2026-11-01", "2024-01-01 2026-01-01"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, now=kyiv(2026, 11, 25, 9), tz=KYIV)


async def test_the_export_has_personal_data_only_when_asked_and_no_formulas(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    service = make_requests(clock)
    await file_request(
        storage, service, ALICE, clock, draft(Category.WATER, None, '=HYPERLINK("http://x")')
    )
    async with storage.transaction() as session:
        plain = await session.stats.export_requests(start=None, end=None)
        full = await session.stats.export_requests(start=None, end=None, personal=True)
    rows = list(
        csv.reader(io.StringIO(export_csv(plain, tz=KYIV, personal=False).decode("utf-8-sig")))
    )
    assert "phone" not in rows[0]
    assert "+380671234567" not in str(rows)
    assert rows[1][0] == "1520-000001"
    rows = list(
        csv.reader(io.StringIO(export_csv(full, tz=KYIV, personal=True).decode("utf-8-sig")))
    )
    assert rows[1][rows[0].index("phone")] == "'+380671234567"
    assert rows[1][rows[0].index("description")].startswith("'=HYPERLINK")


async def test_the_export_counts_photos_and_lists_them_only_with_personal_data(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    service = make_requests(clock)
    with_photos = replace(
        draft(Category.WATER, None), photos=("media:" + "a" * 64 + ".jpg", "tg-2")
    )
    await file_request(storage, service, ALICE, clock, with_photos)
    await file_request(storage, service, ALICE, clock, draft(Category.HEATING, None))
    async with storage.transaction() as session:
        plain = await session.stats.export_requests(start=None, end=None)
        full = await session.stats.export_requests(start=None, end=None, personal=True)
    rows = list(
        csv.reader(io.StringIO(export_csv(plain, tz=KYIV, personal=False).decode("utf-8-sig")))
    )
    assert "photo_refs" not in rows[0]
    assert [row[rows[0].index("photos")] for row in rows[1:]] == ["2", "0"]
    assert "media:" not in str(rows)
    rows = list(
        csv.reader(io.StringIO(export_csv(full, tz=KYIV, personal=True).decode("utf-8-sig")))
    )
    refs = [row[rows[0].index("photo_refs")] for row in rows[1:]]
    assert refs == ["media:" + "a" * 64 + ".jpg tg-2", ""]
