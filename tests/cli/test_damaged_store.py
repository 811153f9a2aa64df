"""A damaged database is never read as intact and never silently replaced by a new schema."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

READ_COMMANDS = [("models", "list"), ("models", "show", "m:1"), ("audit", "log"), ("audit", "verify")]


@pytest.fixture
def populated(cli, project):
    for number in range(1, 41):  # enough rows for the tables to span several pages
        path = project / f"m{number}.bin"
        path.write_bytes(os.urandom(512))
        assert cli("register", path, "--name", "m", "-m", f"version {number} " + "x" * 200).exit_code == 0
    return project / ".mlops" / "mlops.db"


def _assert_refused(cli, db: Path, expected: str) -> None:
    before = db.read_bytes() if db.exists() else None
    for command in READ_COMMANDS:
        result = cli(*command)
        assert result.exit_code == 5, (command, result.stderr)
        assert result.stderr.startswith("error: ") and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert (db.read_bytes() if db.exists() else None) == before  # nothing re-created or "repaired"


def test_a_zero_byte_database(cli, populated):
    populated.write_bytes(b"")
    _assert_refused(cli, populated, "is empty (0 bytes)")
    assert "mlops audit recover" in cli("models", "list").stderr
    init = cli("init")
    assert init.exit_code == 5 and populated.stat().st_size == 0


def test_a_missing_database_beside_blobs(cli, populated):
    populated.unlink()
    _assert_refused(cli, populated, "is missing")
    assert cli("init").exit_code == 5 and not populated.exists()


def test_a_truncated_database(cli, populated):
    size = populated.stat().st_size
    os.truncate(populated, size // 2)
    _assert_refused(cli, populated, "is damaged")


def test_a_corrupt_page_inside_the_versions_table(cli, populated):
    conn = sqlite3.connect(populated)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'versions'").fetchone()[0]
    conn.close()
    with open(populated, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)
    for command in READ_COMMANDS:
        result = cli(*command)
        assert result.exit_code == 5, (command, result.stderr)
        assert "is damaged" in result.stderr and "Traceback" not in result.stderr


def test_a_corrupt_page_a_command_does_not_read_still_stops_it(cli, populated):
    """`models list` does not read the events index: the check at open and verify's find it."""
    conn = sqlite3.connect(populated)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events_subject'").fetchone()[0]
    conn.close()
    with open(populated, "r+b") as handle:
        handle.seek(root * page_size - 300)  # the cell content area, at the end of the page
        handle.write(b"\x07" * 300)
    listed = cli("models", "list")
    assert listed.exit_code == 5 and "is damaged" in listed.stderr


def test_a_foreign_sqlite_file_gets_no_schema(cli, project, populated):
    populated.unlink()
    conn = sqlite3.connect(populated)
    conn.execute("VACUUM")
    conn.close()
    result = cli("models", "list")
    assert result.exit_code == 5 and "has no mlops schema" in result.stderr
    conn = sqlite3.connect(populated)
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


def test_a_file_that_is_not_a_database(cli, populated):
    populated.write_bytes(b"this is a text file, not SQLite" * 100)
    _assert_refused(cli, populated, "is damaged")


def test_init_still_creates_a_store_where_nothing_is_at_stake(cli, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".mlops").mkdir()
    (fresh / ".mlops" / "mlops.db").write_bytes(b"")  # empty, and no blobs to lose
    result = cli("init", "--path", fresh, "--json")
    assert result.exit_code == 0 and result.json["created"] is True
    assert cli("models", "list", "--store", fresh).exit_code == 0
