"""The audit head outside the database: `SEQ:HASH` of the newest event, in `.mlops/audit-head`.

A hash chain proves no event was edited or removed in the middle, but not that its newest
events were not cut off: a truncated chain is still a valid chain. A copy of the head kept
outside the database (and, better, recorded elsewhere: `mlops audit head` in CI logs or git)
shows it. The file is written by `store.db.transaction()` after every commit that appended
events, so every feature's events move it without doing anything.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.errors import UsageError

HEAD_FILENAME = "audit-head"
_HEAD_PATTERN = re.compile(r"(\d+):([0-9a-f]{64})")


@dataclass(frozen=True)
class Head:
    """The newest event of a trail: its sequence number and its chain hash."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    def to_dict(self) -> dict:
        return {"seq": self.seq, "hash": self.hash, "head": str(self)}


def parse_head(text: str) -> Head:
    """`SEQ:HASH` -> Head, or UsageError (exit 2)."""
    match = _HEAD_PATTERN.fullmatch(text.strip())
    if not match:
        raise UsageError(
            f"invalid head {text.strip()!r}", hint="use SEQ:HASH as `mlops audit head` prints it"
        )
    return Head(int(match.group(1)), match.group(2))


def database_head(conn: sqlite3.Connection) -> Head | None:
    row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return Head(row[0], row[1]) if row else None


def read_head_file(path: Path) -> Head | None:
    """The recorded head, or None when the file does not exist; UsageError if it is garbled."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return parse_head(text)


def write_head_file(conn: sqlite3.Connection, path: Path) -> None:
    """Record the database's newest event in `path`, atomically and only ever forwards.

    Runs after COMMIT, so two writers may get here out of order: under an exclusive lock the
    file moves only to a newer sequence number, and never away from a head the database no
    longer holds (that file is the evidence of a truncation, which `audit verify` reports).
    """
    head = database_head(conn)
    if head is None:
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        with open(lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                current = read_head_file(path)
            except UsageError:
                return  # a garbled head is evidence too: leave it for `audit verify`
            if current is not None:
                if current.seq >= head.seq:
                    return
                row = conn.execute("SELECT hash FROM events WHERE seq = ?", (current.seq,)).fetchone()
                if row is None or row[0] != current.hash:
                    return
            temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temp.write_text(f"{head}\n")
            os.replace(temp, path)
    except OSError:
        # A read-only store or a full disk: the change itself is committed; `audit verify`
        # will say the head file lags, which is the truth.
        return
