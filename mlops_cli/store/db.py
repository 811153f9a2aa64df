"""SQLite connections: every PRAGMA in one place, and one transaction helper for writes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.errors import StoreError

# Writers queue behind each other instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 60_000

# Called as callback(conn) after every successful COMMIT of `transaction()`: the events package
# starts hook delivery there, after the change is durable and never inside the transaction.
AFTER_COMMIT: list[Callable[[sqlite3.Connection], None]] = []


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store database with WAL, foreign keys and a generous busy timeout.

    The connection is in autocommit mode; writes go through `transaction()`.
    """
    if not create and not path.is_file():
        raise StoreError(f"store database {path} is missing")
    try:
        try:
            conn = _open(str(path), uri=False)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError:
            if create or os.access(path.parent, os.W_OK):
                raise
            # A store on a read-only filesystem can still be read: nothing will change under us.
            conn = _open(f"{path.absolute().as_uri()}?immutable=1", uri=True)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store database {path}: {exc}") from exc
    return conn


def _open(target: str, *, uri: bool) -> sqlite3.Connection:
    return sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False, uri=uri
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue up.

    Commits when the block ends, rolls back on any exception.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _store_error(exc) from exc
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise _store_error(exc) from exc
    for callback in AFTER_COMMIT:
        callback(conn)


def _store_error(exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return StoreError("the store is on a read-only filesystem or not writable", hint=text)
    if "disk" in text and "full" in text:
        return StoreError("the disk is full; nothing was written")
    return StoreError(f"store database error: {text}")
