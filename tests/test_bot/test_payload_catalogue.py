"""The one catalogue of button actions (``domain.payloads.CATALOGUE``) against what is built.

Every action in it has a handler in the bot as the composition root wires it, and every action
a handler claims is in it: the catalogue is the whole truth, not a list that drifts. Its
grammar (how many arguments) is enforced on both sides: ``build`` refuses a wrong count, and
``parse`` treats one as a stale or forged button.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compose import build_core
from bot.settings import Settings
from domain.payloads import CATALOGUE, PayloadError, build, parse
from handlers.registry import Registry, RegistryError

# Pressed in the staff chat or an executor's chat, handled by the Telegram staff routers
# (bot/telegram), not by the residents' conversation.
STAFF_ACTIONS = {"st", "asg", "relay_close", "relay_req", "obx"}


async def test_every_catalogued_action_is_handled_and_every_handled_one_catalogued(
    tmp_path: Path,
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/bot.sqlite3",
        telegram_token="123:abc",
        staff_chat_id=-100123,
    )
    core = await build_core(settings)
    try:
        conversation_actions = set(core.conversation.registry.actions)
    finally:
        await core.close()
    assert conversation_actions.isdisjoint(STAFF_ACTIONS)
    assert conversation_actions | STAFF_ACTIONS == set(CATALOGUE)


@pytest.mark.parametrize("action", sorted(CATALOGUE))
def test_the_grammar_is_enforced_when_building_and_parsing(action: str) -> None:
    entry = CATALOGUE[action]
    fitting = ["1"] * entry.min_args
    payload = parse(build(action, *fitting))
    assert payload is not None
    assert payload.action == action
    too_many = ["1"] * (entry.max_args + 1)
    with pytest.raises(PayloadError):
        build(action, *too_many)
    # A button built with more arguments than the grammar allows is stale or forged.
    assert parse(":".join(["v1", action, *too_many])) is None
    if entry.min_args:
        assert parse(":".join(["v1", action, *fitting[:-1]])) is None


def test_a_feature_cannot_claim_an_action_missing_from_the_catalogue() -> None:
    async def handler(*_args: object) -> list[object]:
        return []

    with pytest.raises(RegistryError, match="CATALOGUE"):
        Registry().action("brand_new", handler)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="CATALOGUE"):
        Registry().default_action("brand_new", handler)  # type: ignore[arg-type]
