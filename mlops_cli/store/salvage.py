"""Reading whatever survives of a damaged store database, without ever writing to it.

Used by `mlops audit recover`: the events (as far as they still chain from the first one) and,
when still readable, the registry tables. Opened read-only and immutable, so not even a WAL
checkpoint touches the damaged file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mlops_cli.domain import GENESIS_HASH, AuditEvent, chain_hash
from mlops_cli.store.events import event_from_row
from mlops_cli.store.snapshot import RegistryState, read_tables

# Reading event by event after a damaged page: give up after this many unreadable sequence numbers.
_MAX_GAP = 1000


def _open_readonly(path: Path) -> sqlite3.Connection | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    return conn


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
    conn = _open_readonly(db)
    if conn is None:
        return [], 0
    try:
        rows = _rows(conn)
    except sqlite3.DatabaseError:
        rows = []
    finally:
        conn.close()
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
    conn = _open_readonly(db)
    if conn is None:
        return None
    try:
        return read_tables(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
