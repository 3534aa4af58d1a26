"""Hypothesis strategies for hostile input: updates shaped like Telegram's with fields dropped or
replaced, hostile texts (markup, SQL, control and bidi characters, emoji), any JSON."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from domain.payloads import CATALOGUE
from fakes import telegram_updates as tu

USER_IDS = st.integers(min_value=1, max_value=2**40) | st.sampled_from([1, 5551, 2**63 - 1])

HOSTILE_SNIPPETS = (
    "<b>жирний</b>",
    "<script>alert(1)</script>",
    "</i>",
    "<a href='javascript:x'>тиць</a>",
    "&amp; &lt; &#0; &#xD800; &",
    "'; DROP TABLE residents; --",
    '" OR 1=1 --',
    "Robert'); DROP TABLE requests;--",
    "%s %d {0} {name} ${HOME}",
    "\u202eRTL override\u202c",
    "\u200f\u05e9\u05dc\u05d5\u05dd\u200e",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u200b\u200c\u200d\ufeff",
    "👩‍👩‍👧‍👦🇺🇦🔥",
    "\x00\x01\x07\x1b[31m\x7f",
    "\r\n\t\v\f",
    "Й̈о̆ ґ є ї ’",
    "\\u0000 \\n",
)

# Characters from every class that trips renderers: markup, quotes, controls, bidi, astral.
HOSTILE_ALPHABET = st.one_of(
    st.sampled_from(list("<>&\"';/\\`%{}$#=")),
    st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]),
    st.characters(codec="utf-8", categories=["Lu", "Ll", "Lo", "Nd", "So", "Sk", "Mn"]),
)

HOSTILE_TEXT = st.lists(
    st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.text(HOSTILE_ALPHABET, max_size=12)),
    min_size=1,
    max_size=12,
).map("".join)


@st.composite
def long_hostile_text(draw: st.DrawFn, max_size: int = 100_000) -> str:
    """Up to ``max_size`` characters: a hostile chunk repeated (hypothesis cannot draw 100,000
    characters one by one quickly)."""
    chunk = draw(HOSTILE_TEXT.filter(bool))
    size = draw(st.integers(min_value=1, max_value=max_size))
    return (chunk * (size // len(chunk) + 1))[:size]


JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def shaped_update(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed update of any kind the bot receives, from any user, with hostile text."""
    user = draw(USER_IDS)
    text = draw(HOSTILE_TEXT | st.sampled_from(["/start", "/forget", "/menu", "/cancel", "/"]))
    update_id = draw(st.integers(min_value=1, max_value=2**31))
    kind = draw(
        st.sampled_from(
            ["text", "callback", "location", "contact", "photo", "sticker", "voice", "blocked",
             "group"]
        )
    )  # fmt: skip
    if kind == "text":
        return tu.message_update(user, text, update_id=update_id)
    if kind == "callback":
        data = draw(CALLBACK_DATA)
        return tu.callback_update(user, data, update_id=update_id)
    if kind == "location":
        lat = draw(st.floats(min_value=-90, max_value=90))
        lon = draw(st.floats(min_value=-180, max_value=180))
        return tu.location_update(user, lat, lon, update_id=update_id)
    if kind == "contact":
        phone = draw(
            st.sampled_from(["+380671112233", "0671112233", "12", "+1 555", ""])
            | st.text(max_size=20)
        )
        own = draw(st.booleans())
        return tu.contact_update(
            user, phone, contact_user_id=None if own else user + 1, update_id=update_id
        )
    if kind == "photo":
        return tu.photo_update(user, caption=text, update_id=update_id)
    if kind == "sticker":
        return tu.sticker_update(user, update_id=update_id)
    if kind == "voice":
        return tu.voice_update(user, update_id=update_id)
    if kind == "blocked":
        return tu.blocked_update(user, update_id=update_id)
    chat = draw(st.sampled_from([-1_001_234_567_890, -100500, -42]))
    return tu.group_message_update(chat, user, text, update_id=update_id)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, inner in items:
        found.append((*prefix, key))
        found.extend(_paths(inner, (*prefix, key)))
    return found


@st.composite
def mutated_update(draw: st.DrawFn) -> dict[str, Any]:
    """A real update with one or two fields dropped or replaced by any JSON value."""
    body: dict[str, Any] = copy.deepcopy(draw(shaped_update()))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return body


ACTIONS = st.sampled_from(sorted(CATALOGUE))
CALLBACK_DATA = st.one_of(
    st.text(max_size=70),
    st.text(st.characters(codec="ascii"), max_size=70),
    st.builds(
        lambda action, args: ":".join(["v1", action, *args]),
        ACTIONS,
        st.lists(st.text(st.characters(codec="ascii"), max_size=12), max_size=3),
    ),
    st.builds(
        lambda action, args: ":".join(["v1", action, *args]),
        ACTIONS,
        st.lists(st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True), max_size=3),
    ),
    st.sampled_from(["v1:", "v1", "v2:menu", "v1:menu:", "v1::", ":", "v1:pv:yes", "v1:rq:ok"]),
)

UPDATE_BODIES = st.one_of(
    shaped_update().map(lambda update: json.dumps(update).encode()),
    mutated_update().map(lambda update: json.dumps(update).encode()),
    mutated_update().map(lambda update: json.dumps(update).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
)
