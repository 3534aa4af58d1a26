"""PostgreSQL implementation of the storage contract (``DATABASE_URL=postgresql://...``).

Driver: psycopg 3 (with ``psycopg_pool``), not asyncpg. Both are maintained and asynchronous;
psycopg 3 is chosen because it ships its own type annotations (the project runs
``mypy --strict``; asyncpg has none and its third-party stubs lag), it is the PostgreSQL
project's own Python driver lineage (psycopg2's successor, same maintainers), it speaks libpq,
so ``DATABASE_URL`` is read exactly as ``psql`` reads it (every libpq URI parameter, ``options``,
``sslmode``, service files), and its pool is a separate, small package of the same project. The
binary wheel bundles libpq, so neither the image nor CI needs a system library. asyncpg is
faster per statement, which does not matter at this bot's rate (a few statements per message).
"""

from storage.postgres.database import PostgresStorage, open_postgres

__all__ = ["PostgresStorage", "open_postgres"]
