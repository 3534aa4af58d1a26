"""Random button payloads straight into the conversation (``Conversation.handle``): no exception,
and a payload that does not parse changes nothing: not the resident's state, not a row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.compose import Core, build_core
from bot.settings import Settings
from domain.identity import ChannelName, UserRef
from domain.messages import Incoming, Kind
from domain.payloads import parse
from tests.test_hostile.harness import STAFF_CHAT, TOKEN, ErrorLog
from tests.test_hostile.strategies import CALLBACK_DATA
from tests.test_privacy.scan import table_counts

RESIDENT = UserRef(ChannelName.TELEGRAM, "424242")
PAYLOADS = st.one_of(
    CALLBACK_DATA,
    CALLBACK_DATA,  # twice: near-valid payloads reach the features' own checks
    st.text(max_size=200),
    st.binary(max_size=80).map(lambda raw: raw.decode("latin-1")),
    st.none(),
)


@dataclass
class Harness:
    runner: asyncio.Runner
    core: Core
    database: Path
    errors: ErrorLog

    def handle(self, payload: str | None) -> list[str]:
        incoming = Incoming(RESIDENT, Kind.BUTTON, payload=payload)
        replies = self.runner.run(self.core.conversation.handle(incoming))
        return [reply.text for reply in replies]

    def state(self) -> tuple[str, dict[str, Any]]:
        async def load() -> tuple[str, dict[str, Any]]:
            async with self.core.storage.transaction() as session:
                resident = await session.residents.get(RESIDENT)
                assert resident is not None
                state = await session.conversations.load(resident.id)
            return state.step, state.data

        return self.runner.run(load())

    def counts(self) -> dict[str, int]:
        return self.runner.run(table_counts(self.database))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    database = tmp_path_factory.mktemp("hostile-payloads") / "bot.sqlite3"
    settings = Settings(
        _env_file=None,
        telegram_token=TOKEN,
        staff_chat_id=STAFF_CHAT,
        database_url=f"sqlite:///{database}",
    )
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    with asyncio.Runner() as runner:
        core = runner.run(build_core(settings))
        try:
            yield Harness(runner, core, database, errors)
        finally:
            runner.run(core.close())
            logging.getLogger().removeHandler(errors)


def test_a_payload_that_does_not_parse_changes_nothing(harness: Harness) -> None:
    harness.runner.run(
        harness.core.conversation.handle(Incoming(RESIDENT, Kind.TEXT, text="/start"))
    )
    texts = harness.core.texts
    stale = {texts.get(language, "stale_button") for language in ("uk", "en")}
    error = {texts.get(language, "error") for language in ("uk", "en")}
    forged = 0

    @settings(max_examples=250, deadline=None, derandomize=True, database=None)
    @given(payload=PAYLOADS)
    def press(payload: str | None) -> None:
        nonlocal forged
        before_state, before_counts = harness.state(), harness.counts()
        replies = harness.handle(payload)
        assert replies, "every press gets an answer"
        assert not error & set(replies), "a payload reached a bug"
        if parse(payload) is None:
            forged += 1
            assert replies[0] in stale
            assert harness.state() == before_state
            assert harness.counts() == before_counts

    press()
    assert forged > 50, "the strategy must mostly produce payloads that do not parse"
    assert harness.errors.records == []
