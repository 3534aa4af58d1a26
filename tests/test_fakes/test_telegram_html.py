"""The fake's Telegram-HTML parser accepts what Telegram accepts and refuses what it refuses."""

from __future__ import annotations

import html

import pytest
from aiogram.utils.text_decorations import html_decoration
from hypothesis import given
from hypothesis import strategies as st

from fakes.telegram_api import TelegramHTMLError, parse_telegram_html


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<3", "Unclosed start tag at byte offset 0"),
        ("a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("text</b>", "Unexpected end tag at byte offset 4"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("Київ <b", "Unclosed start tag at byte offset 9"),
    ],
)
def test_invalid_markup_is_refused_with_telegrams_wording(markup: str, error: str) -> None:
    with pytest.raises(TelegramHTMLError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_telegram_html(markup)


def test_entities_are_in_utf16_units() -> None:
    text, entities = parse_telegram_html(
        '🏠 <b>Укриття</b> <a href="https://x.ua/?a=1&amp;b=2">мапа</a>'
    )

    assert text == "🏠 Укриття мапа"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 7},
        {"type": "text_link", "offset": 11, "length": 4, "url": "https://x.ua/?a=1&b=2"},
    ]


def test_supported_tags_and_entities() -> None:
    markup = (
        "<strong>b</strong><em>i</em><ins>u</ins><del>s</del><tg-spoiler>p</tg-spoiler>"
        '<span class="tg-spoiler">q</span><code>c</code>'
        '<pre><code class="language-python">x = 1</code></pre>'
        "<blockquote expandable>long</blockquote> &lt;&gt;&amp;&quot;&#1111;&#x457; &nbsp; R&D"
    )

    text, entities = parse_telegram_html(markup)

    assert text == 'biuspqcx = 1long <>&"її &nbsp; R&D'
    assert [e["type"] for e in entities] == [
        "bold", "italic", "underline", "strikethrough", "spoiler", "spoiler", "code", "pre",
        "expandable_blockquote",
    ]  # fmt: skip
    assert entities[7]["language"] == "python"


def test_empty_tags_make_no_entity() -> None:
    assert parse_telegram_html("<b></b>x") == ("x", [])


@given(st.text())
def test_escaped_user_text_always_parses_back_unchanged(user_text: str) -> None:
    assert parse_telegram_html(html.escape(user_text, quote=False)) == (user_text, [])
    assert parse_telegram_html(html_decoration.quote(user_text))[0] == user_text


@given(st.text(min_size=1))
def test_escaped_text_inside_a_tag_is_one_entity(user_text: str) -> None:
    text, entities = parse_telegram_html(f"<b>{html.escape(user_text)}</b>")

    utf16_length = len(user_text.encode("utf-16-le", "surrogatepass")) // 2
    assert text == user_text
    assert entities == [{"type": "bold", "offset": 0, "length": utf16_length}]


@given(st.text(alphabet="<>&ab /", min_size=1))
def test_a_raw_angle_bracket_never_reaches_the_text(markup: str) -> None:
    """``<`` always opens a tag: it is either a valid tag or an error, never literal text."""
    try:
        text, _entities = parse_telegram_html(markup)
    except TelegramHTMLError:
        return
    assert "<" not in text
