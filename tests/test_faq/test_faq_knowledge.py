"""Loading content: the fixture knowledge base, and a clear error for every kind of broken file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from faq.content_model import ANSWER_MAX_CHARS, SHORT_MAX_CHARS, Action, RequestCategory
from faq.errors import ContentError, UnknownEntryError
from faq.knowledge import KnowledgeBase, cross_references, load_knowledge_base
from tests.test_faq.helpers import TODAY, ContentWriter, section_file, valid_entry


def load_problems(folder: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_knowledge_base(folder, today=TODAY)
    return [str(problem) for problem in caught.value.problems]


def test_fixture_sections_are_in_menu_order(fixture_kb: KnowledgeBase) -> None:
    assert [s.id for s in fixture_kb.sections] == ["safety", "idp", "utilities"]
    assert fixture_kb.sections[0].title.get("en") == "Safety"
    assert fixture_kb.sections[0].title.get("ru") == "Безпека"


def test_entries_keep_file_order_within_sections(fixture_kb: KnowledgeBase) -> None:
    ids = [e.id for e in fixture_kb.entries_in("safety")]
    assert ids == ["shelters", "shelter_closed", "air_alert", "street_lighting"]
    assert [e.id for e in fixture_kb.entries][:4] == ids
    assert len(fixture_kb) == 9


def test_lookups_by_id(fixture_kb: KnowledgeBase) -> None:
    entry = fixture_kb.entry("shelter_closed")
    assert entry.action is Action.REQUEST
    assert entry.request_category is RequestCategory.SHELTER_CONDITION
    assert entry.reviewed == date(2026, 11, 1)
    assert fixture_kb.section_of("no_water").id == "utilities"
    assert "shelters" in fixture_kb
    assert "nope" not in fixture_kb
    assert fixture_kb.get("nope") is None
    assert "укрытие" in fixture_kb.entry("shelters").keywords.all()
    assert fixture_kb.entry("shelters").sources[0].url == "https://diia.gov.ua"


def test_answers_are_stripped_plain_text(fixture_kb: KnowledgeBase) -> None:
    answer = fixture_kb.entry("shelters").answer.uk
    assert answer.startswith("Найближче")
    assert not answer.endswith("\n")


def test_unknown_ids_raise_a_content_error(fixture_kb: KnowledgeBase) -> None:
    with pytest.raises(UnknownEntryError, match="no_such_entry"):
        fixture_kb.entry("no_such_entry")
    with pytest.raises(UnknownEntryError):
        fixture_kb.entries_in("no_such_section")
    with pytest.raises(ContentError):
        fixture_kb.section_of("no_such_entry")


def test_valid_written_content_loads(write_content: ContentWriter) -> None:
    folder = write_content(safety=section_file())
    kb = load_knowledge_base(folder, today=TODAY)
    assert [e.id for e in kb.entries] == ["shelters"]


def test_yaml_syntax_error_names_file_and_line(write_content: ContentWriter) -> None:
    folder = write_content(broken="section:\n  id: safety\n  title: {uk: [unclosed\n")
    [problem] = load_problems(folder)
    assert problem.startswith("broken.yaml:")
    assert "YAML syntax" in problem


def test_key_repeated_in_a_mapping_is_reported(write_content: ContentWriter) -> None:
    text = (
        "section:\n  id: safety\n  order: 1\n  order: 2\n"
        "  title: {uk: Безпека, en: Safety}\nentries: []\n"
    )
    problems = load_problems(write_content(safety=text))
    assert any("'order' appears twice" in p and p.startswith("safety.yaml:4") for p in problems)


def test_duplicate_id_across_files_names_both_files(write_content: ContentWriter) -> None:
    folder = write_content(
        a_safety=section_file("safety"),
        b_other=section_file("other", order=2),
    )
    [problem] = load_problems(folder)
    assert "b_other.yaml" in problem
    assert "entry 'shelters'" in problem
    assert "duplicate id: also used in a_safety.yaml" in problem


def test_missing_english_title_is_named(write_content: ContentWriter) -> None:
    entry = valid_entry(title={"uk": "Укриття"})
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "safety.yaml" in problem
    assert "entry 'shelters'" in problem
    assert "title.en is missing (English translation)" in problem


def test_missing_ukrainian_answer_is_named(write_content: ContentWriter) -> None:
    entry = valid_entry(answer={"en": "Find the nearest shelter."})
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "answer.uk is missing" in problem


def test_blank_answer_counts_as_missing(write_content: ContentWriter) -> None:
    entry = valid_entry(answer={"uk": "   \n", "en": "Text"})
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "answer.uk" in problem


def test_related_id_must_exist(write_content: ContentWriter) -> None:
    entry = valid_entry(related=["air_alert"])
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "entry 'shelters'" in problem
    assert "related id 'air_alert' does not exist" in problem


def test_unknown_action_lists_the_allowed_ones(write_content: ContentWriter) -> None:
    entry = valid_entry(action="call_police")
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "unknown action 'call_police'" in problem
    assert "find_shelter" in problem


def test_request_action_needs_a_category(write_content: ContentWriter) -> None:
    entry = valid_entry(action="request")
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "action 'request' needs a request_category" in problem


def test_request_category_must_be_a_known_one(write_content: ContentWriter) -> None:
    entry = valid_entry(action="request", request_category="potholes")
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "unknown request category 'potholes'" in problem


def test_request_category_without_request_action(write_content: ContentWriter) -> None:
    entry = valid_entry(action="operator", request_category="water")
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "only allowed with action: request" in problem


def test_answer_too_long(write_content: ContentWriter) -> None:
    long_text = "а" * (ANSWER_MAX_CHARS + 1)
    entry = valid_entry(answer={"uk": long_text, "en": "Short."})
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert f"answer.uk is too long: {ANSWER_MAX_CHARS + 1} characters" in problem


def test_answer_of_exactly_the_limit_is_fine(write_content: ContentWriter) -> None:
    entry = valid_entry(answer={"uk": "а" * ANSWER_MAX_CHARS, "en": "Short."})
    kb = load_knowledge_base(write_content(safety=section_file(entries=[entry])), today=TODAY)
    assert len(kb.entry("shelters").answer.uk) == ANSWER_MAX_CHARS


def test_markup_in_answer_is_refused(write_content: ContentWriter) -> None:
    entry = valid_entry(answer={"uk": "Це <b>важливо</b>", "en": "Plain"})
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "answer.uk contains markup" in problem


def test_reviewed_date_in_the_future(write_content: ContentWriter) -> None:
    entry = valid_entry(reviewed=date(2026, 11, 26))
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "reviewed date 2026-11-26 is in the future" in problem


def test_reviewed_today_is_fine(write_content: ContentWriter) -> None:
    entry = valid_entry(reviewed=TODAY)
    kb = load_knowledge_base(write_content(safety=section_file(entries=[entry])), today=TODAY)
    assert kb.entry("shelters").reviewed == TODAY


def test_bad_ids_and_unknown_fields(write_content: ContentWriter) -> None:
    entry = valid_entry("Shelters-1", answr="typo")
    problems = load_problems(write_content(safety=section_file(entries=[entry])))
    assert any("'Shelters-1' is not a valid id" in p for p in problems)
    assert any("answr: unknown field" in p for p in problems)


def test_question_count_is_checked(write_content: ContentWriter) -> None:
    entry = valid_entry(questions=["де укриття"])
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert "questions" in problem
    assert "at least 3" in problem


def test_same_question_in_two_entries(write_content: ContentWriter) -> None:
    first = valid_entry("shelters")
    second = valid_entry("air_alert", questions=["Де укриття shelters?", "б", "в"])
    [problem] = load_problems(write_content(safety=section_file(entries=[first, second])))
    assert "entry 'air_alert'" in problem
    assert "also listed in entry 'shelters'" in problem


def test_every_problem_is_collected(write_content: ContentWriter) -> None:
    broken = [
        valid_entry("shelters", related=["ghost"], action="teleport"),
        valid_entry("air_alert", title={"en": "Air alert"}, reviewed=date(2030, 1, 1)),
    ]
    folder = write_content(
        safety=section_file(entries=broken),
        syntax="entries: [\n",
    )
    problems = load_problems(folder)
    assert len(problems) == 5, problems
    assert any(p.startswith("syntax.yaml") for p in problems)
    assert any("unknown action 'teleport'" in p for p in problems)
    assert any("title.uk is missing" in p for p in problems)
    assert any("in the future" in p for p in problems)
    assert any("related id 'ghost' does not exist" in p for p in problems)


def test_error_message_lists_problems(write_content: ContentWriter) -> None:
    entry = valid_entry(action="request")
    with pytest.raises(ContentError) as caught:
        load_knowledge_base(write_content(safety=section_file(entries=[entry])), today=TODAY)
    message = str(caught.value)
    assert message.startswith("1 problem in content:")
    assert "safety.yaml:" in message
    assert "entry 'shelters'" in message


def test_file_structure_problems(write_content: ContentWriter) -> None:
    folder = write_content(empty="", listing="- 1\n- 2\n", nosection="entries: []\n")
    problems = load_problems(folder)
    assert any(p.startswith("empty.yaml") and "empty" in p for p in problems)
    assert any(p.startswith("listing.yaml") and "expected a mapping" in p for p in problems)
    missing = "'section' block is missing"
    assert any(p.startswith("nosection.yaml") and missing in p for p in problems)


def test_missing_folder_and_empty_folder(write_content: ContentWriter) -> None:
    assert "not found" in load_problems(write_content().parent / "nowhere")[0]
    assert "no *.yaml" in load_problems(write_content())[0]


def test_duplicate_section_ids(write_content: ContentWriter) -> None:
    folder = write_content(
        a=section_file("safety", [valid_entry("one")]),
        b=section_file("safety", [valid_entry("two")]),
    )
    problems = load_problems(folder)
    assert any("section id 'safety' is also used in a.yaml" in p for p in problems)


# --- the short answer and cross-references ------------------------------------------------------


def test_the_short_answer_is_loaded(fixture_kb: KnowledgeBase) -> None:
    entry = fixture_kb.entry("shelters")
    assert entry.short.uk
    assert entry.short.get("en") == entry.short.en


@pytest.mark.parametrize("missing", ["short", "short.uk", "short.en"])
def test_a_missing_short_answer_is_named(write_content: ContentWriter, missing: str) -> None:
    entry = valid_entry()
    if missing == "short":
        del entry["short"]
    else:
        entry["short"] = {"uk": "Йдіть до укриття.", "en": "Go to a shelter."}
        del entry["short"][missing.split(".")[1]]
    [problem] = load_problems(write_content(safety=section_file(entries=[entry])))
    assert f"{missing} is missing" in problem


def test_a_short_answer_over_the_limit_is_refused(write_content: ContentWriter) -> None:
    fitting = valid_entry("shelters", short={"uk": "а" * SHORT_MAX_CHARS, "en": "Go."})
    too_long = valid_entry("air_alert", short={"uk": "Йдіть.", "en": "b" * (SHORT_MAX_CHARS + 1)})
    [problem] = load_problems(write_content(safety=section_file(entries=[fitting, too_long])))
    assert "entry 'air_alert'" in problem
    assert f"short.en is too long: {SHORT_MAX_CHARS + 1} characters, at most 400" in problem


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("Якщо житло пошкоджено — див. розділ «Пошкоджене майно».", ["Пошкоджене майно"]),
        ("див. окремі розділи «Опалення» і «Немає світла».", ["Опалення", "Немає світла"]),
        ("Про субсидію (тема «Державні виплати»).", ["Державні виплати"]),
        ('see the section "Damaged property".', ["Damaged property"]),
        ('see the topics "Heating" and "Power outage".', ["Heating", "Power outage"]),
        # Quotes that are not a reference: an app, a programme, a phrase.
        ("Встановіть застосунок «Повітряна тривога». Не беріть «на пам'ять».", []),
        ('The "eRobota" grants: see the terms in Diia. Beware of "easy work".', []),
    ],
)
def test_cross_references_are_found_after_their_marker(text: str, titles: list[str]) -> None:
    assert list(cross_references(text)) == titles


def test_a_cross_reference_to_a_title_no_entry_has_is_refused(
    write_content: ContentWriter,
) -> None:
    heating = valid_entry("heating", title={"uk": "Опалення", "en": "Heating"})
    fine = valid_entry(
        "shelters",
        answer={"uk": "Холодно — див. тему «Опалення».", "en": 'Cold: see the topic "Heating".'},
    )
    wrong = valid_entry(
        "air_alert",
        answer={"uk": "Див. розділ «Пошкоджене майно».", "en": "Plain."},
        short={"uk": "Коротко.", "en": 'See "Heat".'},
    )
    problems = load_problems(write_content(safety=section_file(entries=[heating, fine, wrong])))
    assert len(problems) == 2, problems
    assert all("entry 'air_alert'" in problem for problem in problems)
    assert "answer.uk refers to «Пошкоджене майно», which is not the title of any entry" in (
        problems[0] + problems[1]
    )
    assert "short.en refers to «Heat»" in problems[0] + problems[1]


def test_the_shipped_content_refers_only_to_real_titles() -> None:
    kb = load_knowledge_base()
    for language in ("uk", "en"):
        titles = {entry.title.get(language) for entry in kb}
        for entry in kb:
            for text in (entry.answer.get(language), entry.short.get(language)):
                assert set(cross_references(text)) <= titles, entry.id
