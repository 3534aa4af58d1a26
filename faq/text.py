"""Text normalization for matching: one folded alphabet for Ukrainian, Russian and surzhyk.

Residents mix Ukrainian and Russian letters, skip apostrophes, double or drop letters and type on
the wrong keyboard layout's look-alike Latin letters. Folding all of that into one spelling before
comparing makes "укриття", "укрытие" and "укритя" look alike to the matcher.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOP_WORDS", "content_tokens", "fold", "fold_pattern", "tokens"]

# Letters that differ between Ukrainian and Russian, or that people confuse while typing.
_FOLD = str.maketrans(
    {
        "і": "и",
        "ї": "и",
        "ы": "и",
        "й": "и",
        "є": "е",
        "э": "е",
        "ё": "е",
        "ґ": "г",
        "ъ": None,
        "ь": None,
        "'": None,
        "’": None,
        "ʼ": None,
        "‘": None,
        "`": None,
        "´": None,
    }
)

# Latin letters that look like Cyrillic ones; only replaced inside words that contain Cyrillic,
# so "wifi" or "cnap" stay Latin while "укрuття" becomes Cyrillic.
_HOMOGLYPHS = str.maketrans(
    {
        "a": "а",
        "c": "с",
        "e": "е",
        "i": "и",
        "o": "о",
        "p": "р",
        "x": "х",
        "y": "у",
        "k": "к",
        "m": "м",
        "t": "т",
        "b": "в",
        "h": "н",
        "u": "и",
    }
)

_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-яёіїєґ]")
_REPEATS = re.compile(r"(\w)\1+")
# A doubled letter in a regular expression, but not an escape followed by its letter ("\\bb").
_LETTER_REPEATS = re.compile(r"(?<!\\)([^\W\d_])\1+")

# Function words, small talk and the city's own name, in Ukrainian and Russian (folded below).
# They appear in almost every message and would otherwise make "яка погода завтра" look similar
# to "яка адреса ЦНАПу" or "добрий день" similar to "ліхтар горить вдень".
_STOP_WORDS_RAW = """
    а або але б би бо буде будь було бути в вам вас ви від він вона вони вже все всі всього де для
    до є же за з зі із і й й як яка яке які який якщо коли куди ли ласка мене мені ми мій моя моє
    мої на над нам нас не ні но ну о об от ось під по про при с сам се со так там та те то тут у
    уже хто це цей ця ці чи що шо щоб щоби я його її їх ще тому тобто теж також можна треба
    потрібно хочу хотів хотіла підкажіть скажіть підкажи скажи будь-ласка дякую
    где вы он она они всё всем его её их ещё если есть или им как какой какая какое какие кому
    когда куда мне меня мой мое моё мы нет ни но под пожалуйста при про что чтобы это этот эта эти
    тоже также можно надо нужно хотел хотела подскажите скажите спасибо пожалуста плиз
    привіт привет вітаю здрастуйте здравствуйте добрий добрый доброго добрий день дня вечір вечора
    вечер ранок ранку утро утра справи дела окей ок
    ти тобі тебе тобою твій твоя твоє ты тебя тобой твой твоя собою себе собой скільки сколько
    чому почему навіщо зачем рік року років роки лет год года щось якось якийсь какой-то
    кривий кривого кривому кривім ріг рогу розі кривой кривого кривом рог роге
    a an the is are am was were be been do does did i me my we our you your he she it they them
    his her its their this that these those of to in on at for from with by about into can could
    would should will shall may might must what which who whom whose when where why how there
    here please hi hello thanks thank any some have has had get got not no yes and or but if so
    just also too very need want tell know kryvyi rih
"""


def _words(text: str) -> list[str]:
    """Folded words before doubled letters are collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return [
        raw.translate(_HOMOGLYPHS) if _CYRILLIC.search(raw) else raw
        for raw in _WORD.findall(text.translate(_FOLD))
    ]


def _collapse(word: str) -> str:
    # "укриття" and "укритя", "питання" and "питаня": doubled letters are a common slip.
    return _REPEATS.sub(r"\1", word)


def fold(text: str) -> str:
    """Lowercase, fold look-alike letters and spellings; keep words separated by single spaces."""
    return " ".join(_collapse(word) for word in _words(text))


def fold_pattern(pattern: str) -> str:
    """A regular expression written in ordinary spelling, folded like :func:`fold` folds text.

    Only letters change (case, the Ukrainian/Russian look-alikes, doubled letters), so the
    expression's syntax survives; Latin homoglyphs are left alone, or ``\\b`` would turn Cyrillic.
    """
    folded = unicodedata.normalize("NFKC", pattern).casefold().translate(_FOLD)
    return _LETTER_REPEATS.sub(r"\1", folded)


def tokens(text: str) -> list[str]:
    """Folded words of ``text``."""
    return fold(text).split()


def content_tokens(text: str) -> list[str]:
    """Folded words of ``text`` without function words, small talk and the city's district names
    (may be empty)."""
    # Function words are recognised before collapsing, or "ООН" would become the pronoun "он".
    collapsed = (_collapse(w) for w in _words(text) if w not in STOP_WORDS)
    return [w for w in collapsed if not _PLACES.match(w)]


STOP_WORDS: frozenset[str] = frozenset(_words(_STOP_WORDS_RAW))

# The city's districts and two well-known neighbourhoods, as word beginnings (any case ending).
# Where a resident lives never says what they ask about, but an example that happens to name a
# district ("адреса пенсійного фонду в Саксаганському районі") pulled every question from that
# district towards its entry; and as words no entry knows they made clear questions look
# out of scope. The shelter search reads districts from the raw text, not from these tokens.
_PLACE_STEMS = """
    саксаганськ саксаганск покровськ покровск металургійн металургическ довгинцівськ
    долгинцевск тернівськ терновск інгулецьк ингулецк
    соцміст соцгород гданцівк гданцевк
"""
# "Центрально-Міський" is read as two words: only its first half is a place ("міськ" is not).
_PLACES = re.compile("|".join([*fold(_PLACE_STEMS).split(), fold("центрально") + "$"]))
