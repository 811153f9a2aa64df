"""Reading whatever survives of a damaged store database, without ever writing to it.

Used by `mlops audit recover`: the events (as far as they still chain from the first one) and,
when still readable, the registry tables. The damaged files are never written: the database
and its write-ahead log are copied to a temporary folder and the copy is read, so commits that
were still only in the WAL (a killed process, another one holding the store open) come back too.
Where the copy with its WAL cannot be opened, the file alone is read, immutable.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.domain import GENESIS_HASH, AuditEvent, chain_hash
from mlops_cli.store.events import event_from_row
from mlops_cli.store.snapshot import RegistryState, read_tables

# Reading event by event after a damaged page: give up after this many unreadable sequence numbers.
_MAX_GAP = 1000


def _open_immutable(path: Path) -> sqlite3.Connection | None:
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    return conn


@contextmanager
def _open_readonly(path: Path) -> Iterator[sqlite3.Connection | None]:
    """The database with its WAL applied, on a copy; None when nothing can be read."""
    if not path.is_file() or path.stat().st_size == 0:
        yield None
        return
    wal = path.with_name(path.name + "-wal")
    with tempfile.TemporaryDirectory(prefix="mlops-salvage-") as folder:
        conn = None
        if wal.is_file() and wal.stat().st_size > 0:
            copy = Path(folder) / path.name
            try:
                shutil.copyfile(path, copy)
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                conn = sqlite3.connect(copy)
                conn.row_factory = sqlite3.Row
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
            except (OSError, sqlite3.DatabaseError):
                if conn is not None:
                    conn.close()
                conn = None
        conn = conn or _open_immutable(path)
        try:
            yield conn
        finally:
            if conn is not None:
                conn.close()


def _rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    try:
        return conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    except sqlite3.DatabaseError:
        pass
    rows, seq, misses = [], 1, 0
    while misses < _MAX_GAP:  # a damaged page: fetch the rest one primary key at a time
        try:
            row = conn.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        if row is None:
            misses += 1
        else:
            rows.append(row)
            misses = 0
        seq += 1
    return rows


def surviving_events(db: Path) -> tuple[list[AuditEvent], int]:
    """The events that still chain from the first one, and how many readable ones did not."""
    with _open_readonly(db) as conn:
        if conn is None:
            return [], 0
        try:
            rows = _rows(conn)
        except sqlite3.DatabaseError:
            rows = []
    events: list[AuditEvent] = []
    prev = GENESIS_HASH
    for row in rows:
        try:
            event = event_from_row(row)
        except (ValueError, TypeError, KeyError):
            break
        if event.seq != len(events) + 1 or event.prev_hash != prev:
            break
        if chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
            break
        events.append(event)
        prev = event.hash
    return events, len(rows) - len(events)


def surviving_tables(db: Path) -> RegistryState | None:
    """The registry tables if they can still be read in full, else None."""
    with _open_readonly(db) as conn:
        if conn is None:
            return None
        try:
            return read_tables(conn)
        except sqlite3.DatabaseError:
            return None
