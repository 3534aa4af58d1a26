"""Scale: the queries residents and staff wait for, over 100,000 residents and 200,000 requests.

The same data set is measured on each backend (``--backend sqlite|postgres|both``; both by
default), through the real schema: the storage's own ``open`` creates and migrates it (so the
real migrations and indexes apply), then it is filled in bulk (residents, requests with photos
and history, follow-ups, consultations over 90 days):

* SQLite: a temporary file, ``executemany`` in one transaction, then ``ANALYZE``;
* PostgreSQL: a fresh schema (``bench.postgres``; dropped afterwards), ``COPY`` of the same
  rows, the identities moved past the copied ids, then ``VACUUM ANALYZE`` (a live database's
  autovacuum would have done it).

Then each operation is timed through the code that serves it, inside a transaction as the bot
runs it (median of several runs):

* "my requests": ``RequestService.list_for_resident`` (what the resident's list shows);
* staff ``/find`` by number and by phone: ``RequestService.find``;
* daily statistics: ``notifications.stats.compute_figures`` for yesterday, and the digest's
  ``notifications.digest.load_report`` (yesterday plus the all-time totals).

Every SQL statement an operation runs is captured and its plan checked (SQLite's
``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN``): a full scan of a big table is reported with
the index that would avoid it. ``python -m bench.scale_bench --backend postgres`` measures
PostgreSQL alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bench import Row, median, print_rows, write_json
from domain.clock import ManualClock
from domain.requests import CATEGORIES, DISTRICTS, Status, format_number
from storage.base import Storage
from storage.sqlite import SqliteStorage
from storage.sqlite.times import to_db_time

__all__ = ["BACKENDS", "Dataset", "generate", "run", "seed"]

SECTION = "scale"
BACKENDS = ("sqlite", "postgres")
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

# The columns filled, per table, in the order of the generated rows (the same on both backends).
COLUMNS: dict[str, tuple[str, ...]] = {
    "residents": ("id", "channel", "user_id", "language", "consent_personal_data",
                  "consent_at", "first_seen", "last_seen"),
    "requests": ("id", "resident_id", "channel", "chat_id", "category", "district", "address",
                 "latitude", "longitude", "description", "phone", "status", "executor_id",
                 "service_class", "urgent", "ack_due", "resolve_due", "created_at",
                 "updated_at", "acknowledged_at", "done_at"),
    "request_history": ("request_id", "event", "actor_kind", "actor_id", "from_status",
                        "to_status", "note", "at"),
    "request_photos": ("request_id", "position", "ref"),
    "followups": ("request_id", "resolution_at", "resident_id", "status", "asked_at",
                  "reminded_at", "outcome", "rating", "comment", "reason", "answered_at",
                  "reopened_at"),
    "consultations": ("resident_id", "channel", "topic", "source", "matched", "score",
                      "question", "created_at"),
}  # fmt: skip
# Tables whose ids are given (the others number their rows themselves).
GIVEN_IDS = ("residents", "requests")
_PHONE_COLUMN = COLUMNS["requests"].index("phone")


def _phone(rng: random.Random) -> str:
    return "+38067" + f"{rng.randrange(10**7):07d}"


@dataclass
class Dataset:
    """The rows of every table (aware datetimes and bools, converted by each backend's writer)
    and what a benchmark needs to look up (ids, phones)."""

    tables: dict[str, list[tuple[Any, ...]]]
    sample: dict[str, Any]


def generate(*, now: datetime, rng: random.Random | None = None) -> Dataset:
    """The data set: the same rows for the same ``rng`` on every backend."""
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
            (resident_id, channel, str(10**9 + resident_id), "uk", True, seen, seen, seen)
        )
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
             status.value, rng.choice(EXECUTORS), "standard", rng.random() < 0.3,
             created + timedelta(hours=4), created + timedelta(hours=72), created,
             done_at or acknowledged or created, acknowledged, done_at)
        )  # fmt: skip
        history.append(
            (request_id, "created", "resident", str(resident_id), None, "new", None, created)
        )
        if acknowledged is not None:
            history.append(
                (request_id, "status", "operator", "42", "new", "accepted", None, acknowledged)
            )
        if done_at is not None:
            history.append(
                (request_id, "status", "operator", "42", "accepted", "done", "Виконано", done_at)
            )
            if rng.random() < 0.5:
                answered = done_at + timedelta(days=1)
                outcome = rng.choices(["yes", "partly", "no"], [80, 10, 10])[0]
                followups.append(
                    (request_id, done_at, resident_id, "answered", done_at + timedelta(hours=24),
                     None, outcome, rng.randint(1, 5) if outcome == "yes" else None, None,
                     None, answered, None)
                )  # fmt: skip
        if rng.random() < 0.3:
            photos.append((request_id, 0, f"AgACAgIAAxkBAAI{request_id:08d}"))
    consultations = []
    for _ in range(CONSULTATIONS):
        matched = rng.random() < 0.85
        consultations.append(
            (rng.randint(1, RESIDENTS), "telegram", rng.choice(TOPICS) if matched else None,
             "text", matched, 0.8 if matched else 0.2,
             None if matched else f"незрозуміле питання {rng.randrange(500)}", moment())
        )  # fmt: skip
    with_phone = [row for row in requests if row[_PHONE_COLUMN] is not None]
    tables = {
        "residents": residents,
        "requests": requests,
        "request_history": history,
        "request_photos": photos,
        "followups": followups,
        "consultations": consultations,
    }
    sample = {
        "rows": {name: len(rows) for name, rows in tables.items()},
        "heavy_resident": 1,
        "residents_sample": rng.sample(range(2, RESIDENTS + 1), 40),
        "requests_sample": rng.sample(range(1, REQUESTS + 1), 40),
        "phones_sample": [row[_PHONE_COLUMN] for row in rng.sample(with_phone, 40)],
    }
    return Dataset(tables, sample)


def _sqlite_value(value: Any) -> Any:
    return to_db_time(value) if isinstance(value, datetime) else value


def write_sqlite(path: Path, data: Dataset) -> None:
    """The rows into a migrated SQLite file (times as the storage writes them)."""
    with closing(sqlite3.connect(path)) as db, db:
        # Seeding only (the bot opens it in WAL mode with synchronous NORMAL again).
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
        for table, rows in data.tables.items():
            columns = COLUMNS[table]
            db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))})",
                ([_sqlite_value(value) for value in row] for row in rows),
            )
        db.execute("ANALYZE")


async def write_postgres(url: str, data: Dataset) -> None:
    """The rows into a migrated PostgreSQL schema by ``COPY``; identities moved past them."""
    import psycopg  # noqa: PLC0415 - a SQLite-only run never loads libpq

    async with await psycopg.AsyncConnection.connect(url) as db:
        async with db.cursor() as cursor:
            for table, rows in data.tables.items():
                columns = ", ".join(COLUMNS[table])
                # COPY writes the given ids of GENERATED ALWAYS identities (as OVERRIDING
                # SYSTEM VALUE would).
                async with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        await copy.write_row(row)
            for table in GIVEN_IDS:
                await cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT MAX(id) FROM {table}))"
                )
        await db.commit()
        await db.set_autocommit(True)
        await db.execute("VACUUM ANALYZE")


def seed(path: Path, *, now: datetime, rng: random.Random | None = None) -> dict[str, Any]:
    """Fill a migrated SQLite file; return what a benchmark needs to look up (ids, phones)."""
    data = generate(now=now, rng=rng)
    write_sqlite(path, data)
    return data.sample


# A statement as run: its SQL and parameters (None: SQLite's trace gives it expanded).
Statement = tuple[str, Any]


class Tracer:
    """Collects the SELECT statements the bot's connections run while switched on."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[Statement] = []

    def record(self, sql: str, params: Any = None) -> None:
        if self.on and sql.lstrip().upper().startswith("SELECT"):
            self.statements.append((sql, params))

    def __call__(self, sql: str) -> None:  # sqlite3's trace callback
        self.record(sql)


class Backend(Protocol):
    """What differs between the backends: opening, tracing and explaining."""

    name: str
    label: str

    def open(self) -> Awaitable[Storage]: ...

    def trace(self, storage: Storage, tracer: Tracer) -> Awaitable[None]: ...

    def full_scans(self, statements: Sequence[Statement]) -> list[str]: ...

    def slowest(self, statements: Sequence[Statement], count: int = 2) -> list[str]: ...


@dataclass
class SqliteBackend:
    path: Path
    name: str = "sqlite"
    label: str = "SQLite"

    async def open(self) -> Storage:
        return await SqliteStorage.open(self.path)

    async def trace(self, storage: Storage, tracer: Tracer) -> None:
        # Both connections: the inline writer here, the snapshot reader in aiosqlite's thread.
        assert isinstance(storage, SqliteStorage)
        storage._db.raw.set_trace_callback(tracer)
        reader: Any = await storage._open_reader()
        await reader._execute(reader._conn.set_trace_callback, tracer)

    def full_scans(self, statements: Sequence[Statement]) -> list[str]:
        """Full scans of big tables in the plans of ``statements`` (deduplicated)."""
        problems: set[str] = set()
        with closing(sqlite3.connect(self.path)) as db, db:
            for sql, _ in statements:
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

    def slowest(self, statements: Sequence[Statement], count: int = 2) -> list[str]:
        """The ``count`` slowest of ``statements`` run alone (their start and milliseconds)."""
        timed: list[tuple[float, str]] = []
        with closing(sqlite3.connect(self.path)) as db, db:
            for sql, _ in statements:
                started = time.perf_counter()
                db.execute(sql).fetchall()
                timed.append(((time.perf_counter() - started) * 1000, _start_of(sql)))
        return _top(timed, count)


@dataclass
class PostgresBackend:
    url: str
    name: str = "postgres"
    label: str = "PostgreSQL"
    _restore: list[Callable[[], None]] = field(default_factory=list)

    async def open(self) -> Storage:
        from storage.postgres import PostgresStorage  # noqa: PLC0415

        return await PostgresStorage.open(self.url)

    async def trace(self, storage: Storage, tracer: Tracer) -> None:
        """Every statement of every pooled connection (psycopg has no trace hook: the
        connection class's ``execute`` is wrapped in this process until :meth:`untrace`)."""
        import psycopg  # noqa: PLC0415

        original = psycopg.AsyncConnection.execute

        async def execute(self: Any, query: Any, params: Any = None, **options: Any) -> Any:
            if isinstance(query, bytes | str):
                tracer.record(query.decode() if isinstance(query, bytes) else query, params)
            return await original(self, query, params, **options)

        setattr(psycopg.AsyncConnection, "execute", execute)  # noqa: B010
        self._restore.append(lambda: setattr(psycopg.AsyncConnection, "execute", original))

    def untrace(self) -> None:
        while self._restore:
            self._restore.pop()()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute("SET TIME ZONE 'UTC'")
            yield db

    def full_scans(self, statements: Sequence[Statement]) -> list[str]:
        """Sequential scans of big tables in ``EXPLAIN`` of ``statements`` (deduplicated)."""
        import psycopg  # noqa: PLC0415

        problems: set[str] = set()
        with self._connection() as db:
            for sql, params in statements:
                try:
                    (plan,) = db.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
                except psycopg.Error:
                    continue
                plan = json.loads(plan) if isinstance(plan, str) else plan
                for node in _plan_nodes(plan[0]["Plan"]):
                    relation = node.get("Relation Name")
                    if "Seq Scan" in node.get("Node Type", "") and relation in BIG_TABLES:
                        problems.add(f"Seq Scan on {relation}")
        return sorted(problems)

    def slowest(self, statements: Sequence[Statement], count: int = 2) -> list[str]:
        timed: list[tuple[float, str]] = []
        with self._connection() as db:
            for sql, params in statements:
                started = time.perf_counter()
                db.execute(sql, params).fetchall()
                timed.append(((time.perf_counter() - started) * 1000, _start_of(sql)))
        return _top(timed, count)


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def _start_of(sql: str) -> str:
    return " ".join(sql.split()[:6])


def _top(timed: list[tuple[float, str]], count: int) -> list[str]:
    timed.sort(reverse=True)
    return [f"{ms:.0f} ms {sql}…" for ms, sql in timed[:count]]


async def _time(
    tracer: Tracer,
    operation: Callable[[Any], Awaitable[object]],
    arguments: list[Any],
) -> tuple[list[float], list[Statement]]:
    """Milliseconds of each run (one argument each) and the statements of the first run."""
    timings: list[float] = []
    statements: list[Statement] = []
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


def _result(
    backend: Backend,
    name: str,
    timings: list[float],
    statements: list[Statement],
    target: float,
    note: str,
    *,
    whole: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "median_ms": median(timings),
        "max_ms": max(timings),
        "runs": len(timings),
        "target_ms": target,
        "statements": [
            sql if params is None else f"{sql} -- {params!r}" for sql, params in statements
        ],
        "full_scans": backend.full_scans(statements),
        "scans_expected": whole,
        "slowest": backend.slowest(statements),
        "note": note,
    }


async def measure(backend: Backend, sample: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    from domain.texts import Texts  # noqa: PLC0415
    from services.requests import RequestService  # noqa: PLC0415
    from services.routing import load_routing  # noqa: PLC0415

    clock = ManualClock(now, tz=KYIV)
    service = RequestService(load_routing(), Texts.load(), clock, None)
    storage = await backend.open()
    tracer = Tracer()
    await backend.trace(storage, tracer)
    results: list[dict[str, Any]] = []

    def in_transaction(
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
        timings, statements = await _time(tracer, in_transaction(work), arguments)
        results.append(_result(backend, name, timings, statements, target, note))

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
        await _statistics(backend, storage, tracer, now, results)
    finally:
        untrace = getattr(backend, "untrace", None)
        if untrace is not None:
            untrace()
        await storage.close()
    return results


async def _statistics(
    backend: Backend, storage: Storage, tracer: Tracer, now: datetime, results: list[dict[str, Any]]
) -> None:
    from notifications.digest import load_report  # noqa: PLC0415
    from notifications.stats import compute_figures, day_period  # noqa: PLC0415

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
        timings, statements = await _time(tracer, work, [None] * runs)
        results.append(_result(backend, name, timings, statements, target, note, whole=whole))


def _typed(phone: str) -> str:
    """``+380671234567`` as staff type it: ``067 123 45 67``."""
    local = "0" + phone.removeprefix("+380")
    return f"{local[:3]} {local[3:6]} {local[6:8]} {local[8:]}"


@dataclass
class Measured:
    """One backend's run: how it was seeded and what each operation took."""

    backend: str
    label: str
    seed_seconds: float
    size_mb: float
    sample: dict[str, Any]
    operations: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {
            "seed": {
                **self.sample["rows"],
                "seconds": round(self.seed_seconds, 1),
                "size_mb": round(self.size_mb),
            },
            "operations": self.operations,
        }


def _measure_sqlite(data: Dataset, now: datetime) -> Measured:
    async def migrate(path: Path) -> None:
        storage = await SqliteStorage.open(path)
        await storage.close()

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        path = Path(folder) / "scale.sqlite3"
        asyncio.run(migrate(path))
        started = time.perf_counter()
        write_sqlite(path, data)
        seconds = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20
        operations = asyncio.run(measure(SqliteBackend(path), data.sample, now))
    return Measured("sqlite", "SQLite", seconds, size_mb, data.sample, operations)


async def _measure_postgres(data: Dataset, now: datetime) -> Measured:
    from bench.postgres import fresh_schema  # noqa: PLC0415
    from storage.postgres import PostgresStorage  # noqa: PLC0415

    async with fresh_schema("scale") as url:
        storage = await PostgresStorage.open(url)  # the real migrations
        await storage.close()
        started = time.perf_counter()
        await write_postgres(url, data)
        seconds = time.perf_counter() - started
        size_mb = await _schema_mb(url)
        operations = await measure(PostgresBackend(url), data.sample, now)
    return Measured("postgres", "PostgreSQL", seconds, size_mb, data.sample, operations)


async def _schema_mb(url: str) -> float:
    import psycopg  # noqa: PLC0415

    async with await psycopg.AsyncConnection.connect(url) as db:
        cursor = await db.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class AS c"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        )
        row = await cursor.fetchone()
    return float(row[0]) / 2**20 if row is not None else 0.0


def _rows(measured: Measured) -> list[Row]:
    section = SECTION if measured.backend == "sqlite" else f"{SECTION}-pg"
    sample = measured.sample
    unit = "file" if measured.backend == "sqlite" else "schema"
    rows = [
        Row(section, f"{measured.label}: seeded rows (requests / residents)",
            f"{sample['rows']['requests']:,} / {sample['rows']['residents']:,}", "",
            note=f"{measured.seed_seconds:.1f} s to seed, {measured.size_mb:.0f} MiB {unit}"),
    ]  # fmt: skip
    for item in measured.operations:
        scans = item["full_scans"]
        if scans and not item["scans_expected"]:
            scan_note = "FULL SCAN (missing index?): " + ", ".join(scans)
        elif scans:
            scan_note = "slowest: " + "; ".join(item["slowest"])
        else:
            scan_note = "indexed"
        note = "; ".join(filter(None, [item["note"], scan_note]))
        metric = item["name"] if measured.backend == "sqlite" else f"PG {item['name']}"
        rows.append(
            Row.checked(section, metric, item["median_ms"], "ms", below=item["target_ms"],
                        note=note)
        )  # fmt: skip
    return rows


def _failed(backend: str, error: Exception) -> Row:
    return Row(f"{SECTION}-pg" if backend == "postgres" else SECTION, f"{backend} scale run",
               "failed", ok=False, note=str(error)[:400])  # fmt: skip


def print_side_by_side(measured: list[Measured]) -> None:
    """Each operation's median on every backend measured, in one table."""
    if len(measured) < 2:
        return
    names = [item["name"] for item in measured[0].operations]
    head = f"{'operation (median ms)':<44}" + "".join(f" {m.label:>12}" for m in measured)
    print("\n" + head)
    print("-" * len(head))
    for index, name in enumerate(names):
        cells = "".join(f" {m.operations[index]['median_ms']:>12.3f}" for m in measured)
        print(f"{name:<44}{cells}")
    seeds = "".join(f" {m.seed_seconds:>11.1f}s" for m in measured)
    print(f"{'seeding (s)':<44}{seeds}")


def run(*, write: bool = True, backend: str = "both") -> dict[str, Any]:
    """Seed, measure, print the section's table, write ``bench/results/scale.json``.

    ``backend``: ``sqlite``, ``postgres`` or ``both``. PostgreSQL out of reach fails its
    rows (marked ``!!``, the reason in the note) and leaves SQLite's figures standing.
    """
    chosen = BACKENDS if backend == "both" else (backend,)
    now = datetime.now(UTC).replace(microsecond=0)
    data = generate(now=now)
    measured: list[Measured] = []
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name in chosen:
        try:
            if name == "sqlite":
                found = _measure_sqlite(data, now)
            else:
                found = asyncio.run(_measure_postgres(data, now))
        except Exception as error:
            if name == "sqlite":
                raise
            rows.append(_failed(name, error))
            errors[name] = f"{type(error).__name__}: {error}"
            continue
        measured.append(found)
        rows.extend(_rows(found))
    print_rows(rows, title="Scale: 100,000 residents, 200,000 requests (median of runs)")
    print_side_by_side(measured)
    result: dict[str, Any] = {
        **({"seed": measured[0].summary()["seed"]} if measured else {}),
        "backends": {m.backend: m.summary() for m in measured},
        "errors": errors,
        "rows": [row.as_dict() for row in rows],
    }
    if write:
        write_json("scale" if backend == "both" else f"scale_{backend}", result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    args = parser.parse_args(argv)
    result = run(backend=args.backend)
    if result["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
