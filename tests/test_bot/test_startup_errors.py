"""Start-up: a wrong setting or a missing secret is one clear line and exit code 2.

``python -m bot`` is run for real (a subprocess, stdin not a terminal, as under a service
manager), in an empty folder so that no ``.env`` is read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bot(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "VIBER_", "DATABASE_", "OPS_", "LOG_"))
    }
    environment["PYTHONPATH"] = str(ROOT)
    environment["OPS_PORT"] = ""
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("TIMEZONE", "Mars/Base", "error: TIMEZONE: unknown time zone 'Mars/Base'"),
        ("QUIET_HOURS", "25-99", "error: QUIET_HOURS: QUIET_HOURS must look like 22:00-08:00"),
        ("LOG_LEVEL", "loud", "error: LOG_LEVEL: Input should be 'DEBUG'"),
        ("DATABASE_URL", "mysql://db/x", "error: DATABASE_URL: unsupported DATABASE_URL scheme"),
        ("TELEGRAM_TOKEN", "hello world", "error: TELEGRAM_TOKEN: not a Telegram bot token"),
        ("OPS_PORT", "70000", "error: OPS_PORT:"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it_and_exit_code_2(
    tmp_path: Path, setting: str, value: str, said: str
) -> None:
    result = run_bot(tmp_path, **{setting: value})
    assert result.returncode == 2
    assert result.stderr.startswith(said), result.stderr
    assert "Traceback" not in result.stderr
    assert "hello world" not in result.stderr  # a secret's value is never repeated
    assert not (tmp_path / "data").exists()  # nothing was started


def test_no_token_without_a_terminal_is_an_error_not_a_healthy_exit(tmp_path: Path) -> None:
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert "no TELEGRAM_TOKEN or VIBER_TOKEN" in result.stderr
    assert "python -m bot console" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_console_asked_for_by_name_still_runs_without_a_terminal(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "console")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "contact_center.sqlite3").exists()


def test_an_unknown_mode_prints_the_usage(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "frobnicate")
    assert result.returncode == 2
    usage = (
        "usage: python -m bot [console [--staff] | web | worker | backup PATH | restore PATH"
        " | api-key create NAME --scope read|write | api-key list | api-key revoke NAME"
        " | api-key audit | migrate-data --from SQLITE_URL --to POSTGRES_URL [--media-to DIR]]"
    )
    assert usage in result.stderr


def test_a_routing_file_that_is_missing_is_one_line(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "console", ROUTING_FILE=str(tmp_path / "nowhere.yaml"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr


def test_backup_is_reached_through_the_main_entry(tmp_path: Path) -> None:
    assert run_bot(tmp_path, "console").returncode == 0  # creates the database
    result = run_bot(tmp_path, "backup", str(tmp_path / "copy.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy.sqlite3").stat().st_size > 0
