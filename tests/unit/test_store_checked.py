"""The store's quick_check runs once per change of the database files, not once per command."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from mlops_cli.errors import IntegrityError
from mlops_cli.store import checked, db, open_store


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the store's connections run (a trace on each new connection)."""
    seen: list[str] = []
    real = db._open

    def traced(target: str, *, uri: bool):
        conn = real(target, uri=uri)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(db, "_open", traced)
    # The store was just created: its files are "racily" new; here they count as settled.
    monkeypatch.setattr(checked, "RACY_SECONDS", 0.0)
    return seen


def _checks(statements: list[str]) -> int:
    return sum("quick_check" in s for s in statements)


def _open_and_close() -> None:
    open_store().close()


def test_an_unchanged_database_is_checked_once(project: Path, statements: list[str]):
    _open_and_close()
    assert _checks(statements) == 1
    stamp = project / ".mlops" / "cache" / checked.STAMP_FILE
    assert stamp.stat().st_mode & 0o777 == 0o600
    _open_and_close()
    _open_and_close()
    assert _checks(statements) == 1  # nothing changed: not read again


def test_a_write_makes_the_next_open_check_again(project: Path, statements: list[str]):
    _open_and_close()
    with sqlite3.connect(project / ".mlops" / "mlops.db") as conn:
        conn.execute("PRAGMA user_version")  # a read changes nothing
    _open_and_close()
    assert _checks(statements) == 1
    store = open_store()
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store.events import append_event

    with db.transaction(store.conn):
        append_event(store.conn, "tag", "x:1", provenance(), {})
    store.close()
    _open_and_close()
    assert _checks(statements) == 2


def test_a_page_damaged_after_a_clean_check_is_still_found(project: Path, statements: list[str]):
    """Overwritten in place with its mtime put back: the ctime still moves, so the check runs."""
    _open_and_close()
    path = project / ".mlops" / "mlops.db"
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events_subject'").fetchone()[0]
    conn.close()
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(root * page_size - 300)
        handle.write(b"\x07" * 300)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(IntegrityError, match="is damaged"):
        open_store()
    assert not (project / ".mlops" / "cache" / checked.STAMP_FILE).exists()
    with pytest.raises(IntegrityError):
        open_store()  # and again: a failed check is never remembered as a pass


def test_recent_files_are_not_remembered(project: Path):
    """Changed within the racy window: the stamp could hide a write in the same clock tick."""
    cache = project / ".mlops" / "cache"
    stamp = checked.database_stamp(project / ".mlops" / "mlops.db")
    checked.record_pass(cache, stamp)  # the store was created a moment ago
    assert not checked.passed_before(cache, stamp)
