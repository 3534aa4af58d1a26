"""The instance lock: shared by every process that has the database open, exclusive for restore."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.errors import StorageBusy
from storage.sqlite import SqliteStorage
from storage.sqlite.instance import InstanceLock, database_file, hold_instance_lock, lock_path

ROOT = Path(__file__).resolve().parents[2]


def test_shared_holders_coexist_and_keep_an_exclusive_one_out(db_path: Path) -> None:
    first, second, restore = InstanceLock(db_path), InstanceLock(db_path), InstanceLock(db_path)
    assert first.try_acquire()
    assert second.try_acquire()
    assert not restore.try_acquire(exclusive=True)
    first.release()
    assert not restore.try_acquire(exclusive=True)
    second.release()
    assert restore.try_acquire(exclusive=True)
    assert not first.try_acquire()  # nobody opens the database while it is being replaced
    restore.release()
    assert lock_path(db_path).exists()


async def test_an_open_storage_holds_the_lock_until_it_is_closed(db_path: Path) -> None:
    restore = InstanceLock(db_path)
    storage = await SqliteStorage.open(db_path)
    try:
        assert not restore.try_acquire(exclusive=True)
    finally:
        await storage.close()
    assert restore.try_acquire(exclusive=True)
    restore.release()


async def test_the_storage_does_not_open_while_a_restore_holds_the_lock(db_path: Path) -> None:
    restore = InstanceLock(db_path)
    assert restore.try_acquire(exclusive=True)
    try:
        with pytest.raises(StorageBusy, match="being restored"):
            await SqliteStorage.open(db_path, busy_timeout_ms=100)
    finally:
        restore.release()
    storage = await SqliteStorage.open(db_path, busy_timeout_ms=100)
    await storage.close()


async def test_hold_instance_lock_by_database_url(tmp_path: Path) -> None:
    url = "sqlite:///data/bot.sqlite3"
    assert database_file(url, base=tmp_path) == tmp_path / "data" / "bot.sqlite3"
    (tmp_path / "data").mkdir()
    async with hold_instance_lock(url, base=tmp_path) as lock:
        assert lock.held
        assert not InstanceLock(tmp_path / "data" / "bot.sqlite3").try_acquire(exclusive=True)
    assert not lock.held


@pytest.mark.parametrize(
    "url", ["sqlite:///:memory:", "sqlite://", "postgresql://root@127.0.0.1:5432/test"]
)
async def test_no_file_no_lock(url: str, tmp_path: Path) -> None:
    assert database_file(url, base=tmp_path) is None
    async with hold_instance_lock(url, base=tmp_path) as lock:
        assert lock.path is None
        assert lock.held
        assert InstanceLock(None).try_acquire(exclusive=True)
    assert not any(tmp_path.glob("*"))  # noqa: ASYNC240 - a quick look at a test folder


def test_a_lock_held_by_another_process_refuses_the_exclusive_one(db_path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import asyncio, sys
        from storage.sqlite.instance import hold_instance_lock

        async def main() -> None:
            async with hold_instance_lock({f"sqlite:///{db_path}"!r}):
                print("held", flush=True)
                await asyncio.to_thread(sys.stdin.readline)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        assert process.stdout.readline().strip() == "held"
        restore = InstanceLock(db_path)
        assert not restore.try_acquire(exclusive=True)
        process.stdin.write("done\n")
        process.stdin.flush()
        assert process.wait(timeout=30) == 0
        assert restore.try_acquire(exclusive=True)
        restore.release()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
