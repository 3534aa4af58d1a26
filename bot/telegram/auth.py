"""Who is staff: operators by id (``OPERATOR_IDS``), members of the staff chat, and members of an
executor's own chat for that executor's requests (invariant 5).

Membership is asked of Telegram (``getChatMember``) and remembered for a few minutes, so a busy
staff chat does not hammer the API; a failed lookup is not remembered and refuses (fail closed).

Every staff rule of the Telegram adapter is a method here: cards and staff commands
(``may_act_on_request``, ``may_use_chat``), the relay (``is_staff``), statistics
(``may_see_statistics``, ``is_operator``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import ChatMemberRestricted

from storage.base import Storage

logger = logging.getLogger(__name__)

MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "restricted"})
DEFAULT_TTL = 300.0
MAX_CACHED = 10_000
# Telegram's user for messages an anonymous group admin posts "as the group".
ANONYMOUS_ADMIN_ID = 1087968824


class StaffAuthorizer:
    """Answers "may this Telegram user act here?" for staff-chat commands and card buttons.

    ``executor_chats`` maps an executor's Telegram chat id to the executor's id (from the routing
    file): members of that chat may act on cards of requests assigned to that executor.
    Without a ``bot`` nobody is a member (no lookups): only operators by id are staff.
    """

    def __init__(
        self,
        bot: Bot | None,
        *,
        staff_chat_id: int | None,
        operator_ids: frozenset[int],
        executor_chats: Mapping[int, str] | None = None,
        ttl: float = DEFAULT_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.staff_chat_id = staff_chat_id
        self.operator_ids = operator_ids
        self.executor_chats = dict(executor_chats or {})
        self.ttl = ttl
        self._monotonic = monotonic
        # Per instance on purpose (issue 14): membership is Telegram's fact, not ours, so a
        # shared table would only be another copy of it. Each instance asks Telegram at most
        # once per ``ttl`` per (chat, user); an operator removed from the staff chat keeps
        # acting for at most ``ttl`` after the removal on any instance, exactly as with one
        # instance (the bound does not grow with the number of instances). A failed lookup is
        # never cached (fail closed). ``OPERATOR_IDS`` is configuration, the same everywhere.
        self._cache: dict[tuple[int, int], tuple[float, bool]] = {}

    def is_staff_chat(self, chat_id: int) -> bool:
        return self.staff_chat_id is not None and chat_id == self.staff_chat_id

    def executor_of_chat(self, chat_id: int) -> str | None:
        return self.executor_chats.get(chat_id)

    def is_work_chat(self, chat_id: int) -> bool:
        """The staff chat or an executor's chat: where cards and staff commands live."""
        return self.is_staff_chat(chat_id) or chat_id in self.executor_chats

    def is_operator(self, user_id: int) -> bool:
        """One of ``OPERATOR_IDS`` (who alone may see residents' personal data in exports)."""
        return user_id in self.operator_ids

    async def is_staff(self, user_id: int) -> bool:
        """An operator by id, or a member of the staff chat."""
        if user_id in self.operator_ids:
            return True
        if self.staff_chat_id is None:
            return False
        return await self.is_member(self.staff_chat_id, user_id)

    async def may_act(self, user_id: int, chat_id: int, executor_id: str | None) -> bool:
        """May ``user_id``, pressing in ``chat_id``, act on a request of ``executor_id``?"""
        if await self.is_staff(user_id):
            return True
        own = self.executor_chats.get(chat_id)
        return own is not None and own == executor_id and await self.is_member(chat_id, user_id)

    async def may_act_on_request(
        self, user_id: int, chat_id: int, request_id: int, database: Storage
    ) -> bool:
        """``may_act`` for a request by id: its executor is read only when it decides (a user
        who is not staff, in an executor's chat)."""
        if await self.is_staff(user_id):
            return True
        own = self.executor_chats.get(chat_id)
        if own is None:
            return False
        async with database.transaction() as session:
            request = await session.requests.get(request_id)
        return (
            request is not None
            and request.executor_id == own
            and await self.is_member(chat_id, user_id)
        )

    async def may_see_statistics(self, user_id: int, chat_id: int) -> bool:
        """Anyone writing in the staff chat (they are its members: no lookup), and staff
        anywhere."""
        return self.is_staff_chat(chat_id) or await self.is_staff(user_id)

    async def may_use_chat(self, user_id: int, chat_id: int) -> bool:
        """May ``user_id`` use staff commands in ``chat_id`` (a staff or executor chat)?"""
        if await self.is_staff(user_id):
            return True
        return chat_id in self.executor_chats and await self.is_member(chat_id, user_id)

    async def is_member(self, chat_id: int, user_id: int) -> bool:
        now = self._monotonic()
        cached = self._cache.get((chat_id, user_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        if self.bot is None:
            return False
        try:
            member = await self.bot.get_chat_member(chat_id, user_id)
        except AiogramError as error:
            # "user not found", a network error, an unreadable answer: not a member (fail
            # closed). Not cached: it may be a hiccup.
            logger.info(
                "membership of user %s in chat %s unknown: %s",
                user_id,
                chat_id,
                type(error).__name__,
            )
            return False
        status = str(getattr(member.status, "value", member.status))
        allowed = status in MEMBER_STATUSES
        if isinstance(member, ChatMemberRestricted) and not member.is_member:
            allowed = False  # restricted but no longer in the chat
        self._remember(chat_id, user_id, allowed, now)
        return allowed

    def forget(self, chat_id: int | None = None, user_id: int | None = None) -> None:
        """Drop cached answers (all, a chat's, or one user's)."""
        for key in list(self._cache):
            if (chat_id is None or key[0] == chat_id) and (user_id is None or key[1] == user_id):
                del self._cache[key]

    def _remember(self, chat_id: int, user_id: int, allowed: bool, now: float) -> None:
        if len(self._cache) >= MAX_CACHED:
            for key, (expires, _) in list(self._cache.items()):
                if expires <= now:
                    del self._cache[key]
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        self._cache[(chat_id, user_id)] = (now + self.ttl, allowed)
