"""Remembering that the database passed `PRAGMA quick_check`, so an unchanged one is not re-read.

`quick_check` reads every page: about 57 ms for 10,000 versions, paid by every command that
opens the store. What it protects against (a page damaged by a crash, a partial copy, another
program writing the file) changes the files it damages. So after a clean check the database
file's and its WAL's identity (inode, size, mtime_ns, ctime_ns) are recorded in
`.mlops/cache/quick-check` (owner-only), and the next open skips the check when both are still
exactly so. Any write, a checkpoint, a restore from a backup or a copy over the file changes
at least the ctime, which no program can set back (`touch` can forge the mtime, not the ctime).

Stamps are only recorded for files last changed more than `RACY_SECONDS` before, as git does
for its index ("racily clean"): a write in the same clock tick as the stat could otherwise keep
the stamp. What this does not catch: a disk that flips bits without a write through the
filesystem; `mlops audit verify` still reads everything, and SQLite reports a damaged page it
reads in any query (exit 5).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

STAMP_FILE = "quick-check"
RACY_SECONDS = 2.0


def database_stamp(db: Path) -> list[list[int] | None]:
    """The identity of the database file and its WAL (None for a missing or empty WAL).

    Taken before the store's connection is opened: a write after it makes the next stamp differ.
    """
    stamp: list[list[int] | None] = []
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_size == 0 and path != db):
            stamp.append(None)  # an empty WAL holds nothing: each connection makes a new one
            continue
        stamp.append([st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return stamp


def passed_before(cache_dir: Path, stamp: list[list[int] | None]) -> bool:
    """True when the last clean check saw exactly these files."""
    try:
        return json.loads((cache_dir / STAMP_FILE).read_text()) == stamp
    except (OSError, ValueError):
        return False  # never checked, or an unreadable stamp: check


def record_pass(cache_dir: Path, stamp: list[list[int] | None]) -> None:
    """Remember a clean check of files that have not changed for a while; failures are ignored
    (a read-only store checks every time, as before)."""
    now = time.time_ns()
    if any(part is not None and now - max(part[2], part[3]) < RACY_SECONDS * 1e9 for part in stamp):
        return
    path = cache_dir / STAMP_FILE
    temp = path.with_name(f".{STAMP_FILE}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(mode=0o700, exist_ok=True)  # a store made before cache/ existed
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stamp, handle)
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)


def forget_pass(cache_dir: Path) -> None:
    """The database failed a check: the next open must check again, whatever the files say."""
    try:
        (cache_dir / STAMP_FILE).unlink(missing_ok=True)
    except OSError:
        pass
