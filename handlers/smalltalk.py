"""Small talk and reactions outside a flow: a brief, kind answer instead of "no answer found".

What counts as which group is ``faq/data/smalltalk.yaml`` (``faq.smalltalk``); the answers are
``smalltalk_<group>`` in ``domain/locales/*/smalltalk.yaml``. The crisis check runs before any
of this (an interceptor), so "дякую, але я не хочу жити" never reaches it.
"""

from __future__ import annotations

from domain.messages import Button, Reply
from domain.payloads import build
from faq.smalltalk import SmallTalk, default_smalltalk
from handlers.context import Context
from handlers.menu import menu_button_row

# Groups whose answer offers the operator (who is this; an upset resident) or the topics.
_WITH_OPERATOR = frozenset({"bot", "upset"})
_WITH_TOPICS = frozenset({"greeting"})


def smalltalk_group(text: str, talk: SmallTalk | None = None) -> str | None:
    """The small-talk group of ``text``, or None for a question (or anything else)."""
    return (talk or default_smalltalk()).classify(text)


def smalltalk_reply(ctx: Context, group: str) -> list[Reply]:
    """The answer to a message of ``group``, with the main-menu button."""
    rows: list[tuple[Button, ...]] = []
    if group in _WITH_OPERATOR:
        rows.append((Button(ctx.t("btn_talk_operator"), build("operator")),))
    if group in _WITH_TOPICS:
        rows.append((Button(ctx.t("btn_topics"), build("consult")),))
    rows.append(menu_button_row(ctx))
    return [Reply(ctx.t(f"smalltalk_{group}"), buttons=tuple(rows))]
