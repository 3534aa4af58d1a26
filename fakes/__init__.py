"""Fakes of the messenger servers the bot talks to, served over real HTTP for end-to-end tests.

Import from the submodules: ``tests.fakes.telegram_api`` (a Bot API server),
``tests.fakes.telegram_updates`` (update builders) and ``tests.fakes.viber_api``.
Names are not re-exported here because both fakes have a ``RecordedCall`` and a ``Fault``.
"""

__all__ = ["telegram_api", "telegram_updates", "viber_api"]
