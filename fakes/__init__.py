"""Test doubles shared by the tests and the benchmarks; the bot itself never imports them.

The fakes of the messenger servers the bot talks to are served over real HTTP:
``fakes.telegram_api`` (a Bot API server), ``fakes.telegram_updates`` (update builders) and
``fakes.viber_api`` (a Viber REST server and signed callbacks). ``fakes.recording`` holds the
recording channel and a resident who drives a conversation; ``fakes.round_robin`` is a small
round-robin HTTP proxy standing for the load balancer in front of several bot instances;
``fakes.postgres_schema`` a scratch PostgreSQL schema, dropped afterwards.
Names are not re-exported here because both fakes have a ``RecordedCall`` and a ``Fault``.
The package lives beside ``bot/`` so that ``bench/`` needs nothing from ``tests/``; it is not
shipped in the wheel, and import-linter contracts in ``pyproject.toml`` keep it one-way.
"""

__all__ = [
    "postgres_schema",
    "recording",
    "round_robin",
    "telegram_api",
    "telegram_updates",
    "viber_api",
]
