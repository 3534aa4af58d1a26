"""The statistics report (figures + chart) and the daily digest that sends it to the staff chat.

``build_report`` serves both ``/stats`` (on demand) and the digest (every morning at
``DIGEST_TIME``, city time). The digest is idempotent: its outbox key carries the local date, so
a tick that runs twice, or a restart, queues it once.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from domain.clock import Clock
from domain.identity import UserRef
from domain.messages import Reply
from domain.texts import Texts
from notifications.charts import ChartData, render_chart_async
from notifications.quiet import local_moment
from notifications.stats import Figures, Labels, Period, compute_figures, day_period, render_figures
from services.outbox import enqueue, outbox_key
from storage.base import Storage

__all__ = ["DigestJob", "Report", "build_report", "load_report"]

logger = logging.getLogger(__name__)


class Report:
    """The figures of a period with the running totals, ready to be worded and drawn."""

    def __init__(self, figures: Figures, totals: Figures) -> None:
        self.figures = figures
        self.totals = totals


async def load_report(storage: Storage, period: Period, *, now: datetime) -> Report:
    """Both sets of figures from one read-only snapshot, off the event loop."""
    async with storage.snapshot() as session:
        figures = await compute_figures(session, period, now=now)
        totals = await compute_figures(session, None, now=now)
    return Report(figures, totals)


async def build_report(report: Report, labels: Labels, *, title: str) -> list[Reply]:
    """The report as replies: the text, then the chart image (drawn in a worker thread)."""
    t = labels.texts.get
    lang = labels.language
    figures = report.figures
    text = render_figures(figures, report.totals, labels)
    chart = ChartData(
        title=title,
        panels=(
            (
                t(lang, "ntf_chart_categories"),
                {labels.category(k): v for k, v in figures.by_category.items()},
            ),
            (
                t(lang, "ntf_chart_districts"),
                {labels.district(k): v for k, v in figures.by_district.items()},
            ),
            (
                t(lang, "ntf_chart_topics"),
                {labels.topic(k): v for k, v in (figures.consultations or {}).items()},
            ),
        ),
    )
    png = await render_chart_async(chart)
    return [
        Reply(text, title=title),
        Reply(t(lang, "ntf_chart_caption", period=title), image=png, image_name="stats.png"),
    ]


class DigestJob:
    """Queues yesterday's report for the staff chat once a day, after ``digest_time``."""

    def __init__(
        self,
        storage: Storage,
        texts: Texts,
        clock: Clock,
        *,
        staff_chat: UserRef | None,
        digest_time: time = time(8, 0),
        labels: Labels | None = None,
    ) -> None:
        self.storage = storage
        self.texts = texts
        self.clock = clock
        self.staff_chat = staff_chat
        self.digest_time = digest_time
        self.labels = labels or Labels(texts)

    def key(self, now: datetime) -> str:
        return outbox_key("digest", now.astimezone(self.clock.tz).date().isoformat())

    async def tick(self) -> bool:
        """Queue today's digest if its time has come and it is not queued yet; True if queued."""
        if self.staff_chat is None:
            return False
        now = self.clock.now()
        tz = self.clock.tz
        if now < local_moment(now, self.digest_time, tz):
            return False
        key = self.key(now)
        async with self.storage.transaction() as session:
            if await session.outbox.by_key(key) is not None:
                return False
        yesterday = day_period(now.astimezone(tz).date() - timedelta(days=1), tz)
        report = await load_report(self.storage, yesterday, now=now)
        title = self.texts.get(self.labels.language, "ntf_digest_title", period=yesterday.label())
        replies = await build_report(report, self.labels, title=title)
        async with self.storage.transaction() as session:
            # The key makes a second tick (or a second process by mistake) add nothing.
            queued = await enqueue(
                session, key=key, chat=self.staff_chat, replies=replies, kind="digest", now=now
            )
        if queued:
            logger.info("daily digest for %s queued", yesterday.first.isoformat())
        return queued
