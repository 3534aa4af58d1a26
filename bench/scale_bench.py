"""Scale: the queries residents and staff wait for, over 100,000 residents and 200,000 requests.

A SQLite file is created by ``SqliteStorage.open`` (so the real migrations and indexes apply),
seeded in bulk (``executemany`` in one transaction: residents, requests with photos and
history, follow-ups, consultations over 90 days), then each operation is timed through the
code that serves it, inside a transaction as the bot runs it (median of several runs):

* "my requests": ``RequestService.list_for_resident`` (what the resident's list shows);
* staff ``/find`` by number and by phone: ``RequestService.find``;
* daily statistics: ``notifications.stats.compute_figures`` for yesterday, and the digest's
  ``notifications.digest.load_report`` (yesterday plus the all-time totals).

Every SQL statement an operation runs is captured and its ``EXPLAIN QUERY PLAN`` checked: a full
scan of a big table is reported with the index that would avoid it.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import Row, median, print_rows, write_json
from domain.clock import ManualClock
from domain.requests import CATEGORIES, DISTRICTS, Status, format_number
from storage.sqlite import SqliteStorage
from storage.sqlite.times import to_db_time

__all__ = ["run", "seed"]

SECTION = "scale"
RESIDENTS = 100_000
REQUESTS = 200_000
CONSULTATIONS = 200_000
HEAVY_REQUESTS = 500  # one resident who files a lot (a building manager)
DAYS = 90
KYIV = ZoneInfo("Europe/Kyiv")
# Interactive lookups are waited for in a chat; the digest runs once a day in the background.
LOOKUP_TARGET_MS = 10.0
DAILY_TARGET_MS = 250.0
DIGEST_TARGET_MS = 2000.0
# "SCAN requests" or "SCAN requests AS r": every row read, no index (an index scan says so).
_PLAIN_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?$")
BIG_TABLES = ("requests", "request_history", "residents", "consultations", "followups")
STATUS_WEIGHTS = {
    Status.DONE: 60,
    Status.REJECTED: 5,
    Status.IN_PROGRESS: 10,
    Status.ACCEPTED: 10,
    Status.NEW: 10,
    Status.NEEDS_INFO: 3,
    Status.REOPENED: 2,
}
EXECUTORS = (
    "contact_center",
    *(f"vykonkom_{district.value}" for district in DISTRICTS),
    "city_water",
    "city_heating",
    "city_electricity",
    "social_policy",
    "damage_commission",
)
TOPICS = ("shelters", "idp_certificate", "humanitarian_aid", "utilities", "medicine", "evacuation")


def _phone(rng: random.Random) -> str:
    return "+38067" + f"{rng.randrange(10**7):07d}"


def seed(path: Path, *, now: datetime, rng: random.Random | None = None) -> dict[str, Any]:
    """Fill a migrated database; return what a benchmark needs to look up (ids, phones)."""
    rng = rng or random.Random(1520)
    start = now - timedelta(days=DAYS)
    span = DAYS * 86_400

    def moment() -> datetime:
        return start + timedelta(seconds=rng.randrange(span))

    residents = []
    phones: list[str] = []
    for resident_id in range(1, RESIDENTS + 1):
        seen = moment()
        channel = "telegram" if rng.random() < 0.7 else "viber"
        residents.append(
            (resident_id, channel, str(10**9 + resident_id), "uk", 1, to_db_time(seen),
             to_db_time(seen), to_db_time(seen))
        )  # fmt: skip
        phones.append(_phone(rng))
    requests: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    photos: list[tuple[Any, ...]] = []
    followups: list[tuple[Any, ...]] = []
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    owners = [1] * HEAVY_REQUESTS + [
        rng.randint(2, RESIDENTS) for _ in range(REQUESTS - HEAVY_REQUESTS)
    ]
    rng.shuffle(owners)
    for request_id, resident_id in enumerate(owners, start=1):
        created = moment()
        status = rng.choices(statuses, weights)[0]
        done_at = created + timedelta(hours=rng.randint(2, 96)) if status is Status.DONE else None
        acknowledged = None if status is Status.NEW else created + timedelta(minutes=30)
        district = rng.choice(DISTRICTS).value if rng.random() < 0.9 else None
        phone = phones[resident_id - 1] if rng.random() < 0.7 else None
        requests.append(
            (request_id, resident_id, "telegram", str(10**9 + resident_id),
             rng.choice(CATEGORIES).value, district, f"вул. Тестова, {rng.randint(1, 200)}",
             None, None, "Опис проблеми мешканця для навантажувального тесту", phone,
             status.value, rng.choice(EXECUTORS), "standard", int(rng.random() < 0.3),
             to_db_time(created + timedelta(hours=4)), to_db_time(created + timedelta(hours=72)),
             to_db_time(created), to_db_time(done_at or acknowledged or created),
             to_db_time(acknowledged) if acknowledged else None,
             to_db_time(done_at) if done_at else None)
        )  # fmt: skip
        history.append(
            (request_id, "created", "resident", str(resident_id), None, "new", None,
             to_db_time(created))
        )  # fmt: skip
        if acknowledged is not None:
            history.append(
                (request_id, "status", "operator", "42", "new", "accepted", None,
                 to_db_time(acknowledged))
            )  # fmt: skip
        if done_at is not None:
            history.append(
                (request_id, "status", "operator", "42", "accepted", "done", "Виконано",
                 to_db_time(done_at))
            )  # fmt: skip
            if rng.random() < 0.5:
                answered = done_at + timedelta(days=1)
                outcome = rng.choices(["yes", "partly", "no"], [80, 10, 10])[0]
                followups.append(
                    (request_id, to_db_time(done_at), resident_id, "answered",
                     to_db_time(done_at + timedelta(hours=24)), None, outcome,
                     rng.randint(1, 5) if outcome == "yes" else None, None, None,
                     to_db_time(answered), None)
                )  # fmt: skip
        if rng.random() < 0.3:
            photos.append((request_id, 0, f"AgACAgIAAxkBAAI{request_id:08d}"))
    consultations = []
    for _ in range(CONSULTATIONS):
        matched = rng.random() < 0.85
        consultations.append(
            (rng.randint(1, RESIDENTS), "telegram", rng.choice(TOPICS) if matched else None,
             "text", int(matched), 0.8 if matched else 0.2,
             None if matched else f"незрозуміле питання {rng.randrange(500)}",
             to_db_time(moment()))
        )  # fmt: skip
    with closing(sqlite3.connect(path)) as db, db:
        # Seeding only (the bot opens it in WAL mode with synchronous NORMAL again).
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
        db.executemany(
            "INSERT INTO residents (id, channel, user_id, language, consent_personal_data,"
            " consent_at, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            residents,
        )
        db.executemany(
            "INSERT INTO requests (id, resident_id, channel, chat_id, category, district,"
            " address, latitude, longitude, description, phone, status, executor_id,"
            " service_class, urgent, ack_due, resolve_due, created_at, updated_at,"
            " acknowledged_at, done_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            requests,
        )
        db.executemany(
            "INSERT INTO request_history (request_id, event, actor_kind, actor_id, from_status,"
            " to_status, note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            history,
        )
        db.executemany(
            "INSERT INTO request_photos (request_id, position, ref) VALUES (?, ?, ?)", photos
        )
        db.executemany(
            "INSERT INTO followups (request_id, resolution_at, resident_id, status, asked_at,"
            " reminded_at, outcome, rating, comment, reason, answered_at, reopened_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            followups,
        )
        db.executemany(
            "INSERT INTO consultations (resident_id, channel, topic, source, matched, score,"
            " question, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            consultations,
        )
        db.execute("ANALYZE")
    with_phone = [row for row in requests if row[10] is not None]
    return {
        "rows": {
            "residents": len(residents),
            "requests": len(requests),
            "request_history": len(history),
            "request_photos": len(photos),
            "followups": len(followups),
            "consultations": len(consultations),
        },
        "heavy_resident": 1,
        "residents_sample": rng.sample(range(2, RESIDENTS + 1), 40),
        "requests_sample": rng.sample(range(1, REQUESTS + 1), 40),
        "phones_sample": [row[10] for row in rng.sample(with_phone, 40)],
    }


class Tracer:
    """Collects the SQL the bot's connection runs (values expanded) while switched on."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[str] = []

    def __call__(self, sql: str) -> None:
        if self.on and sql.lstrip().upper().startswith("SELECT"):
            self.statements.append(sql)


async def _trace(storage: SqliteStorage, tracer: Tracer) -> None:
    # Both connections: the inline writer here, the snapshot reader in aiosqlite's thread.
    storage._db.raw.set_trace_callback(tracer)
    reader: Any = await storage._open_reader()
    await reader._execute(reader._conn.set_trace_callback, tracer)


def plan_problems(path: Path, statements: list[str]) -> list[str]:
    """Full scans of big tables in the plans of ``statements`` (deduplicated)."""
    problems: set[str] = set()
    with closing(sqlite3.connect(path)) as db, db:
        for sql in statements:
            try:
                plan = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            except sqlite3.Error:
                continue
            for row in plan:
                detail = str(row[-1])
                scan = _PLAIN_SCAN.match(detail)
                if scan is not None and scan.group(1) in BIG_TABLES:
                    problems.add(detail)
    return sorted(problems)


def slowest(path: Path, statements: list[str], count: int = 2) -> list[str]:
    """The ``count`` slowest of ``statements`` run alone (their start and milliseconds)."""
    timed: list[tuple[float, str]] = []
    with closing(sqlite3.connect(path)) as db, db:
        for sql in statements:
            started = time.perf_counter()
            db.execute(sql).fetchall()
            timed.append(((time.perf_counter() - started) * 1000, " ".join(sql.split()[:6])))
    timed.sort(reverse=True)
    return [f"{ms:.0f} ms {sql}…" for ms, sql in timed[:count]]


async def _time(
    storage: SqliteStorage,
    tracer: Tracer,
    operation: Callable[[Any], Awaitable[object]],
    arguments: list[Any],
) -> tuple[list[float], list[str]]:
    """Milliseconds of each run (one argument each) and the statements of the first run."""
    timings: list[float] = []
    statements: list[str] = []
    for index, argument in enumerate(arguments):
        tracer.statements = []
        tracer.on = index == 0
        started = time.perf_counter()
        await operation(argument)
        timings.append((time.perf_counter() - started) * 1000)
        tracer.on = False
        if index == 0:
            statements = list(tracer.statements)
    return timings, statements


async def measure(path: Path, sample: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    from domain.texts import Texts  # noqa: PLC0415
    from services.requests import RequestService  # noqa: PLC0415
    from services.routing import load_routing  # noqa: PLC0415

    clock = ManualClock(now, tz=KYIV)
    service = RequestService(load_routing(), Texts.load(), clock, None)
    storage = await SqliteStorage.open(path)
    tracer = Tracer()
    await _trace(storage, tracer)
    results: list[dict[str, Any]] = []

    async def in_transaction(
        work: Callable[[Any], Awaitable[object]],
    ) -> Callable[[Any], Awaitable[object]]:
        async def run(argument: Any) -> object:
            async with storage.transaction() as session:
                return await work((session, argument))

        return run

    async def record(
        name: str,
        work: Callable[[Any], Awaitable[object]],
        arguments: list[Any],
        target: float,
        note: str = "",
    ) -> None:
        timings, statements = await _time(storage, tracer, await in_transaction(work), arguments)
        results.append(
            {
                "name": name,
                "median_ms": median(timings),
                "max_ms": max(timings),
                "runs": len(timings),
                "target_ms": target,
                "statements": statements,
                "full_scans": plan_problems(path, statements),
                "scans_expected": False,
                "slowest": slowest(path, statements),
                "note": note,
            }
        )

    try:
        residents = sample["residents_sample"]
        await record(
            "my requests (list, 10 newest)",
            lambda a: service.list_for_resident(a[0], a[1], 10),
            residents,
            LOOKUP_TARGET_MS,
        )
        await record(
            f"my requests of a resident with {HEAVY_REQUESTS}",
            lambda a: service.list_for_resident(a[0], a[1], 10),
            [sample["heavy_resident"]] * 20,
            LOOKUP_TARGET_MS,
        )
        await record(
            "/find by number",
            lambda a: service.find(a[0], a[1]),
            [format_number(request_id) for request_id in sample["requests_sample"]],
            LOOKUP_TARGET_MS,
        )
        await record(
            "/find by phone",
            lambda a: service.find(a[0], a[1]),
            [_typed(phone) for phone in sample["phones_sample"]],
            LOOKUP_TARGET_MS,
        )
        await _statistics(storage, tracer, path, now, results)
    finally:
        await storage.close()
    return results


async def _statistics(
    storage: SqliteStorage, tracer: Tracer, path: Path, now: datetime, results: list[dict[str, Any]]
) -> None:
    try:
        from notifications.digest import load_report  # noqa: PLC0415
        from notifications.stats import compute_figures, day_period  # noqa: PLC0415
    except ImportError:
        await _statistics_fallback(storage, tracer, path, now, results)
        return
    yesterday = day_period(now.astimezone(KYIV).date() - timedelta(days=1), KYIV)

    async def daily(_: object) -> object:
        async with storage.snapshot() as session:
            return await compute_figures(session, yesterday, now=now)

    async def digest(_: object) -> object:
        return await load_report(storage, yesterday, now=now)

    for name, work, runs, target, note, whole in (
        ("daily statistics (yesterday)", daily, 7, DAILY_TARGET_MS,
         "notifications.stats.compute_figures", False),
        # The running totals count every row there is: scanning is what they are.
        ("digest figures (yesterday + all-time)", digest, 5, DIGEST_TARGET_MS,
         "notifications.digest.load_report", True),
    ):  # fmt: skip
        timings, statements = await _time(storage, tracer, work, [None] * runs)
        results.append(
            {
                "name": name,
                "median_ms": median(timings),
                "max_ms": max(timings),
                "runs": runs,
                "target_ms": target,
                "statements": statements,
                "full_scans": plan_problems(path, statements),
                "scans_expected": whole,
                "slowest": slowest(path, statements),
                "note": note,
            }
        )


async def _statistics_fallback(
    storage: SqliteStorage, tracer: Tracer, path: Path, now: datetime, results: list[dict[str, Any]]
) -> None:
    """Without notifications.stats: the GROUP BY a daily digest needs, timed by hand."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    sql = (
        "SELECT category, COUNT(*) FROM requests WHERE created_at >= ? AND created_at < ?"
        " GROUP BY category"
    )

    async def daily(_: object) -> object:
        async with storage.transaction() as session:
            db: Any = session.requests._db
            async with db.execute(sql, (to_db_time(start), to_db_time(end))) as cursor:
                return await cursor.fetchall()

    timings, statements = await _time(storage, tracer, daily, [None] * 7)
    results.append(
        {
            "name": "daily statistics (GROUP BY, no stats module)",
            "median_ms": median(timings),
            "max_ms": max(timings),
            "runs": 7,
            "target_ms": DAILY_TARGET_MS,
            "statements": statements,
            "full_scans": plan_problems(path, statements),
            "scans_expected": False,
            "slowest": slowest(path, statements),
            "note": "notifications.stats missing: an equivalent query",
        }
    )


def _typed(phone: str) -> str:
    """``+380671234567`` as staff type it: ``067 123 45 67``."""
    local = "0" + phone.removeprefix("+380")
    return f"{local[:3]} {local[3:6]} {local[6:8]} {local[8:]}"


def run(*, write: bool = True) -> dict[str, Any]:
    """Seed, measure, print the section's table, write ``bench/results/scale.json``."""
    now = datetime.now(UTC).replace(microsecond=0)

    async def migrate(path: Path) -> None:
        storage = await SqliteStorage.open(path)
        await storage.close()

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        path = Path(folder) / "scale.sqlite3"
        asyncio.run(migrate(path))
        started = time.perf_counter()
        sample = seed(path, now=now)
        seed_seconds = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20
        results = asyncio.run(measure(path, sample, now))
    rows = [
        Row(SECTION, "seeded rows (requests / residents)",
            f"{sample['rows']['requests']:,} / {sample['rows']['residents']:,}", "",
            note=f"{seed_seconds:.1f} s to seed, {size_mb:.0f} MiB file"),
    ]  # fmt: skip
    for item in results:
        scans = item["full_scans"]
        if scans and not item["scans_expected"]:
            scan_note = "FULL SCAN (missing index?): " + ", ".join(scans)
        elif scans:
            scan_note = "slowest: " + "; ".join(item["slowest"])
        else:
            scan_note = "indexed"
        note = "; ".join(filter(None, [item["note"], scan_note]))
        rows.append(
            Row.checked(SECTION, item["name"], item["median_ms"], "ms",
                        below=item["target_ms"], note=note)
        )  # fmt: skip
    print_rows(rows, title="Scale: 100,000 residents, 200,000 requests (median of runs)")
    result = {
        "seed": {**sample["rows"], "seconds": round(seed_seconds, 1), "file_mb": round(size_mb)},
        "operations": results,
        "rows": [row.as_dict() for row in rows],
    }
    if write:
        write_json("scale", result)
    return result


if __name__ == "__main__":
    run()
