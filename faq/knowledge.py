"""Loading and validating the knowledge base: ``faq/content/*.yaml`` in, a KnowledgeBase out.

Every problem in every file is collected before anything is raised, so a content editor fixes
them all in one pass (``python -m faq check``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from faq.content_model import (
    ANSWER_MAX_CHARS,
    SHORT_MAX_CHARS,
    Action,
    Entry,
    EntryFile,
    Section,
    SectionFile,
)
from faq.errors import ContentError, ContentProblem, UnknownEntryError

__all__ = ["DEFAULT_CONTENT_DIR", "KnowledgeBase", "cross_references", "load_knowledge_base"]

logger = logging.getLogger(__name__)

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent / "content"
# "Reviewed in the future" is judged in the city's time zone, not the server's.
CITY_TZ = ZoneInfo("Europe/Kyiv")

_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
_SPACES = re.compile(r"\s+")
# A cross-reference in an answer names another entry by its title in quotes after a marker:
# "див. «Опалення»", "розділи «Опалення» і «Немає світла»", 'see the topic "Heating"',
# 'sections "Heating" and "Power outage"'. Quotes without a marker («Дія», "easy work") are not
# references. ``python -m faq check`` refuses a referenced title that no entry has.
_REFERENCE = re.compile(
    r"(?:\bдив\.|\bрозділ\w*|\bтем[аиуі]\b|\bsee\b|\bsections?\b|\btopics?\b)"
    r"(?:\s+(?:окрем\w+|розділ\w*|тем[аиуі]|the|separate|sections?|topics?))*\s*"
    r"((?:[«\"][^»\"]+[»\"](?:\s*(?:,|і|та|and)\s*)?)+)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[«\"]([^»\"]+)[»\"]")


class KnowledgeBase:
    """The validated sections and entries, in menu order, with lookups by id."""

    def __init__(self, sections: Iterable[Section], entries: Iterable[Entry]) -> None:
        self._sections = tuple(sorted(sections, key=lambda s: (s.order, s.id)))
        self._section_by_id = {section.id: section for section in self._sections}
        rank = {section.id: index for index, section in enumerate(self._sections)}
        # sorted() is stable, so entries keep their file order inside a section.
        self._entries = tuple(sorted(entries, key=lambda e: rank.get(e.section_id, len(rank))))
        self._entry_by_id = {entry.id: entry for entry in self._entries}
        self._by_section: dict[str, tuple[Entry, ...]] = {
            section.id: tuple(e for e in self._entries if e.section_id == section.id)
            for section in self._sections
        }

    @property
    def sections(self) -> tuple[Section, ...]:
        return self._sections

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._entries

    def entry(self, entry_id: str) -> Entry:
        try:
            return self._entry_by_id[entry_id]
        except KeyError:
            raise UnknownEntryError("entry", entry_id) from None

    def get(self, entry_id: str) -> Entry | None:
        return self._entry_by_id.get(entry_id)

    def section(self, section_id: str) -> Section:
        try:
            return self._section_by_id[section_id]
        except KeyError:
            raise UnknownEntryError("section", section_id) from None

    def section_of(self, entry_id: str) -> Section:
        return self.section(self.entry(entry_id).section_id)

    def entries_in(self, section_id: str) -> tuple[Entry, ...]:
        self.section(section_id)
        return self._by_section[section_id]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entry_by_id

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)


def load_knowledge_base(
    directory: Path | None = None, *, today: date | None = None
) -> KnowledgeBase:
    """Load every ``*.yaml`` in ``directory`` (default: the shipped content); raise ContentError.

    ``today`` (default: the current date in Kyiv) is injectable so tests control what "a review
    date in the future" means.
    """
    folder = DEFAULT_CONTENT_DIR if directory is None else Path(directory)
    if today is None:
        today = datetime.now(CITY_TZ).date()
    if not folder.is_dir():
        raise ContentError([ContentProblem(file=str(folder), message="content folder not found")])
    files = sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())
    if not files:
        raise ContentError(
            [ContentProblem(file=str(folder), message="no *.yaml content files in this folder")]
        )
    problems: list[ContentProblem] = []
    parsed = [_parse_file(path, problems) for path in files]
    sections, entries = _check_across_files([p for p in parsed if p is not None], today, problems)
    if problems:
        raise ContentError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    knowledge = KnowledgeBase(sections, entries)
    logger.info(
        "knowledge base loaded: %d sections, %d entries from %s",
        len(knowledge.sections),
        len(knowledge),
        folder,
    )
    return knowledge


# --- one file ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ParsedEntry:
    """An entry as read: its model when valid, and what cross-file checks need even when not."""

    label: str
    line: int | None
    model: EntryFile | None
    related: tuple[str, ...]
    reviewed: date | None
    questions: tuple[str, ...]
    # ("answer.uk", text) for every answer text found, checked for cross-references.
    texts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _ParsedFile:
    name: str
    section: SectionFile | None
    section_line: int | None
    entries: tuple[_ParsedEntry, ...]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key; the base class reports it properly
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} appears twice",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, problems: list[ContentProblem]) -> tuple[Any, yaml.Node | None]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(ContentProblem(file=name, message=f"not UTF-8 text ({exc.reason})"))
        return None, None
    except OSError as exc:
        problems.append(ContentProblem(file=name, message=f"cannot read file: {exc.strerror}"))
        return None, None
    loader = _StrictLoader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        problems.append(ContentProblem(file=name, line=line, message=f"YAML syntax: {detail}"))
        return None, None
    except yaml.YAMLError as exc:
        problems.append(ContentProblem(file=name, message=f"YAML syntax: {exc}"))
        return None, None
    finally:
        loader.dispose()
    return data, node


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    return None


def _line(node: yaml.Node | None) -> int | None:
    return None if node is None else node.start_mark.line + 1


def _parse_file(path: Path, problems: list[ContentProblem]) -> _ParsedFile | None:
    name = path.name
    data, root = _read_yaml(path, problems)
    if root is None and data is None and not any(p.file == name for p in problems):
        problems.append(ContentProblem(file=name, message="file is empty"))
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(
            ContentProblem(file=name, message="expected a mapping with 'section' and 'entries'")
        )
        return None
    for key in sorted(set(map(str, data)) - {"section", "entries"}):
        problems.append(
            ContentProblem(
                file=name,
                line=_line(_child(root, key)),
                message=f"unknown top-level key '{key}' (expected 'section' and 'entries')",
            )
        )

    section_node = _child(root, "section")
    section: SectionFile | None = None
    if "section" not in data:
        problems.append(ContentProblem(file=name, message="'section' block is missing"))
    else:
        try:
            section = SectionFile.model_validate(data["section"])
        except ValidationError as exc:
            for message in _describe(exc, prefix="section"):
                problems.append(
                    ContentProblem(file=name, line=_line(section_node), message=message)
                )

    entries_node = _child(root, "entries")
    raw_entries = data.get("entries")
    parsed: list[_ParsedEntry] = []
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append(
            ContentProblem(
                file=name, line=_line(entries_node), message="'entries' must be a non-empty list"
            )
        )
        raw_entries = []
    item_nodes = entries_node.value if isinstance(entries_node, yaml.SequenceNode) else []
    for index, raw in enumerate(raw_entries):
        line = _line(item_nodes[index]) if index < len(item_nodes) else None
        label = _entry_label(raw, index)
        model: EntryFile | None = None
        try:
            model = EntryFile.model_validate(raw)
        except ValidationError as exc:
            for message in _describe(exc):
                problems.append(ContentProblem(file=name, entry=label, line=line, message=message))
        else:
            for message in _entry_rules(model):
                problems.append(ContentProblem(file=name, entry=label, line=line, message=message))
        parsed.append(_salvage(raw, label, line, model))
    return _ParsedFile(
        name=name, section=section, section_line=_line(section_node), entries=tuple(parsed)
    )


def _salvage(raw: object, label: str, line: int | None, model: EntryFile | None) -> _ParsedEntry:
    """Keep the fields cross-file checks use, so an invalid entry is still checked for them."""
    fields = raw if isinstance(raw, dict) else {}
    texts = tuple(
        (f"{field}.{language}", text)
        for field in ("answer", "short")
        if isinstance(localized := fields.get(field), dict)
        for language in ("uk", "en")
        if isinstance(text := localized.get(language), str)
    )
    if model is not None:
        return _ParsedEntry(
            label, line, model, tuple(model.related), model.reviewed, tuple(model.questions), texts
        )
    related = fields.get("related")
    questions = fields.get("questions")
    reviewed = fields.get("reviewed")
    return _ParsedEntry(
        label=label,
        line=line,
        model=None,
        related=tuple(r for r in related if isinstance(r, str))
        if isinstance(related, list)
        else (),
        reviewed=reviewed if isinstance(reviewed, date) else None,
        questions=(
            tuple(q for q in questions if isinstance(q, str)) if isinstance(questions, list) else ()
        ),
        texts=texts,
    )


def _entry_label(raw: object, index: int) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip():
        return str(raw["id"])
    return f"#{index + 1} (no valid id)"


def _describe(exc: ValidationError, prefix: str | None = None) -> list[str]:
    """Turn pydantic's errors into sentences that name the field a content editor must fix."""
    messages = []
    for error in exc.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in error["loc"]]
        where = ".".join(parts) or "entry"
        kind = error["type"]
        if kind == "missing":
            hint = " (Ukrainian text)" if where.endswith(".uk") else ""
            hint = " (English translation)" if where.endswith(".en") else hint
            messages.append(f"{where} is missing{hint}")
        elif kind == "extra_forbidden":
            messages.append(f"{where}: unknown field (a typo?)")
        elif kind == "enum" and where.endswith("action"):
            allowed = ", ".join(a.value for a in Action)
            messages.append(f"{where}: unknown action {error['input']!r} (allowed: {allowed})")
        elif kind == "enum" and where.endswith("request_category"):
            messages.append(f"{where}: unknown request category {error['input']!r}")
        elif kind == "string_pattern_mismatch" and where.endswith("id"):
            messages.append(
                f"{where}: {error['input']!r} is not a valid id (lowercase latin letters and _)"
            )
        else:
            messages.append(f"{where}: {error['msg']}")
    return messages


def cross_references(text: str) -> tuple[str, ...]:
    """The titles ``text`` refers to as other entries ("див. «Опалення»", 'see "Heating"')."""
    return tuple(
        title.strip()
        for found in _REFERENCE.finditer(text)
        for title in _QUOTED.findall(found.group(1))
    )


def _entry_rules(entry: EntryFile) -> list[str]:
    """Rules about one entry that a field type cannot express."""
    messages = []
    for field, limit in (("answer", ANSWER_MAX_CHARS), ("short", SHORT_MAX_CHARS)):
        for language in ("uk", "en"):
            text = getattr(getattr(entry, field), language)
            if len(text) > limit:
                messages.append(
                    f"{field}.{language} is too long: {len(text)} characters, at most {limit}"
                )
            if _TAG.search(text):
                messages.append(f"{field}.{language} contains markup; answers are plain text")
    if entry.action is Action.REQUEST and entry.request_category is None:
        messages.append("action 'request' needs a request_category")
    if entry.request_category is not None and entry.action is not Action.REQUEST:
        messages.append("request_category is only allowed with action: request")
    if entry.id in entry.related:
        messages.append("related lists the entry itself")
    return messages


# --- across files ------------------------------------------------------------------------------


def _check_across_files(
    files: Sequence[_ParsedFile], today: date, problems: list[ContentProblem]
) -> tuple[list[Section], list[Entry]]:
    sections: list[Section] = []
    section_file: dict[str, str] = {}
    for parsed in files:
        if parsed.section is None:
            continue
        section_id = parsed.section.id
        if section_id in section_file:
            problems.append(
                ContentProblem(
                    file=parsed.name,
                    line=parsed.section_line,
                    message=f"section id '{section_id}' is also used in {section_file[section_id]}",
                )
            )
            continue
        section_file[section_id] = parsed.name
        sections.append(parsed.section.value())

    entry_file: dict[str, str] = {}
    question_owner: dict[str, str] = {}
    entries: list[Entry] = []
    for parsed in files:
        for item in parsed.entries:

            def report(message: str, _name: str = parsed.name, _item: _ParsedEntry = item) -> None:
                problems.append(
                    ContentProblem(file=_name, entry=_item.label, line=_item.line, message=message)
                )

            if item.label in entry_file:
                report(f"duplicate id: also used in {entry_file[item.label]}")
                continue
            entry_file[item.label] = parsed.name
            if item.reviewed is not None and item.reviewed > today:
                report(f"reviewed date {item.reviewed.isoformat()} is in the future")
            for question in item.questions:
                key = _SPACES.sub(" ", question.casefold()).strip(" ?!.")
                owner = question_owner.setdefault(key, item.label)
                if owner != item.label:
                    report(f"question {question!r} is also listed in entry '{owner}'")
            if item.model is not None and parsed.section is not None:
                entries.append(item.model.value(parsed.section.id))

    titles = {
        language: {entry.title.get(language) for entry in entries} for language in ("uk", "en")
    }
    for parsed in files:
        for item in parsed.entries:
            for message in _reference_problems(item.texts, titles):
                problems.append(
                    ContentProblem(
                        file=parsed.name, entry=item.label, line=item.line, message=message
                    )
                )
            for related in item.related:
                if related not in entry_file:
                    problems.append(
                        ContentProblem(
                            file=parsed.name,
                            entry=item.label,
                            line=item.line,
                            message=f"related id '{related}' does not exist",
                        )
                    )
    return sections, entries


def _reference_problems(texts: Sequence[tuple[str, str]], titles: dict[str, set[str]]) -> list[str]:
    """Titles an entry's texts refer to ("див. «Опалення»") that no entry has, in the same
    language; a renamed entry would otherwise leave readers looking for a topic that is gone."""
    messages = []
    for where, text in texts:
        language = where.rsplit(".", 1)[1]
        for title in cross_references(text):
            if title not in titles[language]:
                messages.append(
                    f"{where} refers to «{title}», which is not the title of any entry (use the "
                    "exact title, or a related button instead)"
                )
    return messages
