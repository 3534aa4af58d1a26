"""``/forget`` erases the questions kept for content editors (answers marked not helpful,
suggestions offered), phone numbers in them included; the counts and the statistics stay."""

from __future__ import annotations

from typing import Any

from domain.clock import ManualClock
from domain.messages import ChannelName, Incoming, Kind, UserRef
from fakes.recording import Resident
from storage.sqlite import SqliteStorage
from tests.test_handlers.consult_helpers import consult_conversation
from tests.test_privacy.scan import scan, table_counts

ALICE = UserRef(ChannelName.TELEGRAM, "1001")
BOB = UserRef(ChannelName.VIBER, "bob-viber")

# Each is unique to its resident, so a scan of every column of every table finds it.
ALICE_NEEDLES = ["гнатюк", "502223344", "973334455"]
BOB_NEEDLES = ["коваля", "ковалю"]


async def not_helpful(resident: Resident, question: str) -> None:
    await resident.say(question)
    assert resident.last[0].title is not None, resident.text
    await resident.press("👎 Ні")


async def figures(storage: SqliteStorage) -> tuple[Any, ...]:
    async with storage.transaction() as session:
        return (
            await session.stats.consultations_by_topic(start=None, end=None),
            await session.consultations.total(),
            await session.consultations.unanswered(),
        )


async def report(storage: SqliteStorage) -> tuple[list[Any], list[Any]]:
    async with storage.transaction() as session:
        store = session.consultations
        return await store.not_helpful(), await store.suggestions_not_taken()


async def test_forget_erases_the_questions_kept_for_editors(
    storage: SqliteStorage, clock: ManualClock
) -> None:
    conversation = consult_conversation(storage, clock)
    alice, bob = Resident(conversation, ALICE), Resident(conversation, BOB)
    await not_helpful(alice, "як отримати довідку ВПО для Гнатюк")
    # Phone numbers typed into a question are stored as typed, like an unanswered question.
    await alice.say("допомога 050 222 33 44")
    assert "Можливо" in alice.text
    alice_offer = alice.last[0].all_buttons[0].payload
    await alice.say("документи 097 333 44 55")
    await alice.press("Відновлення документів")
    await alice.press("👎 Ні")
    await not_helpful(bob, "як отримати довідку ВПО для Коваля")
    await bob.say("допомога Ковалю")
    assert "Можливо" in bob.text

    found = await scan(storage.path, [*ALICE_NEEDLES, *BOB_NEEDLES])
    assert [needle for needle, where in found.items() if not where] == []
    assert {table for where in found.values() for table, _ in where} == {
        "consultations",
        "consultation_suggestions",
    }
    before = await figures(storage)
    counts = await table_counts(storage.path)
    bob_before = await scan(storage.path, BOB_NEEDLES)
    helped, offers = await report(storage)
    assert (len(helped), len(offers)) == (3, 2)

    await alice.say("/forget")
    await alice.press("Так, стерти")
    assert "стерто" in alice.text

    leftovers = await scan(storage.path, ALICE_NEEDLES)
    assert {needle: where for needle, where in leftovers.items() if where} == {}
    assert await scan(storage.path, BOB_NEEDLES) == bob_before
    assert await figures(storage) == before
    after = await table_counts(storage.path)
    for table in ("consultations", "consultation_suggestions"):
        assert after[table] == counts[table], table  # blanked, not deleted
    helped, offers = await report(storage)
    assert [(question, topic) for question, topic, _ in helped] == [
        ("як отримати довідку впо для коваля", "idp_registration")
    ]
    assert [question for question, _, _ in offers] == ["допомога ковалю"]

    # An old suggestion button pressed after the erasure brings no text back.
    await alice.send(Incoming(ALICE, Kind.BUTTON, payload=alice_offer))
    assert alice.last[0].title is not None
    assert await scan(storage.path, ALICE_NEEDLES) == leftovers


async def test_forget_counts_what_it_blanked(storage: SqliteStorage, clock: ManualClock) -> None:
    conversation = consult_conversation(storage, clock)
    alice = Resident(conversation, ALICE)
    await not_helpful(alice, "як отримати довідку ВПО для Гнатюк")
    await alice.say("допомога 050 222 33 44")
    async with storage.transaction() as session:
        me = await session.residents.get(ALICE)
        assert me is not None
        erased = await session.privacy.erase_resident(me.id, now=clock.now())
    assert (erased.consultations, erased.suggestions) == (1, 1)
