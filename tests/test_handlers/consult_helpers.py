"""A conversation with the consultations feature (real content) over a real SQLite file, for
the tests of what it stores for content editors and what ``/forget`` erases of it."""

from __future__ import annotations

from domain.clock import ManualClock
from domain.texts import Texts
from handlers.conversation import Conversation
from handlers.menu import MenuFeature
from handlers.privacy import PrivacyFeature
from storage.sqlite import SqliteStorage
from tests.test_handlers.test_consult import knowledge, make_feature


def consult_conversation(storage: SqliteStorage, clock: ManualClock) -> Conversation:
    """Consultations, ``/forget`` and the menu, matching before the transaction as in the bot."""
    feature = make_feature()
    return Conversation(
        storage=storage,
        clock=clock,
        texts=Texts.load(),
        features=[PrivacyFeature(), feature, MenuFeature()],
        preparers=[feature.prepare],
    )


def offered_topics(text: str) -> list[str]:
    """The entry ids the shipped content offers as buttons for ``text``, best first."""
    _, matcher = knowledge()
    return [match.entry_id for match in matcher.classify(text).matches]
