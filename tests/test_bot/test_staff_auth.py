"""Who is staff: OPERATOR_IDS, staff-chat members (asked of the fake Bot API, cached briefly),
and executors' chats for their own requests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot

from bot.telegram.auth import StaffAuthorizer
from bot.telegram.runtime import create_bot
from fakes.telegram_api import FakeTelegramServer

TOKEN = "123456:TEST"
STAFF = -1001000000001
EXECUTOR_CHAT = -1001000000002
OPERATOR, MEMBER, ADMIN, LEFT, RESTRICTED_GONE, EXECUTOR = 10, 11, 12, 13, 14, 15


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as fake:
        fake.chat_members[(STAFF, MEMBER)] = "member"
        fake.chat_members[(STAFF, ADMIN)] = "administrator"
        fake.chat_members[(STAFF, LEFT)] = "left"
        fake.chat_members[(STAFF, RESTRICTED_GONE)] = {
            "status": "restricted",
            "is_member": False,
            "until_date": 0,
            **{
                f"can_{right}": False
                for right in (
                    "send_messages", "send_audios", "send_documents", "send_photos",
                    "send_videos", "send_video_notes", "send_voice_notes", "send_polls",
                    "send_other_messages", "add_web_page_previews", "react_to_messages", "edit_tag",
                    "change_info",
                    "invite_users", "pin_messages", "manage_topics",
                )
            },
        }  # fmt: skip
        fake.chat_members[(EXECUTOR_CHAT, EXECUTOR)] = "member"
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    bot = create_bot(TOKEN, server.base_url)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def auth(bot: Bot, ticks: Ticks) -> StaffAuthorizer:
    return StaffAuthorizer(
        bot,
        staff_chat_id=STAFF,
        operator_ids=frozenset({OPERATOR}),
        executor_chats={EXECUTOR_CHAT: "vykonkom_ternivskyi"},
        ttl=300,
        monotonic=ticks,
    )


def lookups(server: FakeTelegramServer) -> int:
    return sum(call.method == "getChatMember" for call in server.calls)


async def test_operators_by_id_need_no_lookup(
    auth: StaffAuthorizer, server: FakeTelegramServer
) -> None:
    assert await auth.is_staff(OPERATOR)
    assert lookups(server) == 0


@pytest.mark.parametrize(
    ("user", "allowed"),
    [(MEMBER, True), (ADMIN, True), (LEFT, False), (RESTRICTED_GONE, False), (999, False)],
)
async def test_members_of_the_staff_chat_are_staff(
    auth: StaffAuthorizer, user: int, allowed: bool
) -> None:
    assert await auth.is_staff(user) is allowed


async def test_answers_are_cached_for_the_ttl_only(
    auth: StaffAuthorizer, server: FakeTelegramServer, ticks: Ticks
) -> None:
    assert await auth.is_staff(MEMBER)
    assert await auth.is_staff(MEMBER)
    assert lookups(server) == 1
    server.chat_members[(STAFF, MEMBER)] = "kicked"  # removed from the staff chat
    ticks.now += 301
    assert not await auth.is_staff(MEMBER)
    assert lookups(server) == 2


async def test_a_failed_lookup_refuses_and_is_not_remembered(
    auth: StaffAuthorizer, server: FakeTelegramServer
) -> None:
    server.faults.add(kind="400", method="getChatMember")
    assert not await auth.is_staff(MEMBER)
    assert await auth.is_staff(MEMBER)


async def test_executor_chat_members_act_only_on_their_own_requests(
    auth: StaffAuthorizer,
) -> None:
    assert await auth.may_act(EXECUTOR, EXECUTOR_CHAT, "vykonkom_ternivskyi")
    assert not await auth.may_act(EXECUTOR, EXECUTOR_CHAT, "city_water")
    assert not await auth.may_act(EXECUTOR, STAFF, "vykonkom_ternivskyi")
    assert not await auth.may_act(LEFT, EXECUTOR_CHAT, "vykonkom_ternivskyi")
    assert await auth.may_use_chat(EXECUTOR, EXECUTOR_CHAT)
    assert not await auth.is_staff(EXECUTOR)
    # Operators act everywhere.
    assert await auth.may_act(OPERATOR, EXECUTOR_CHAT, "city_water")
