"""SQLite connections: every PRAGMA in one place, and one transaction helper for writes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.errors import IntegrityError, MlopsError, StoreError
from mlops_cli.store.head import HEAD_FILENAME, write_head_file

# Writers queue behind each other instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 60_000

# What SQLite says when the file itself is damaged (SQLITE_CORRUPT, SQLITE_NOTADB).
_CORRUPTION_WORDS = ("malformed", "not a database", "disk image", "corrupt")


class StoreConnection(sqlite3.Connection):
    """A connection that knows where the audit head file lives.

    `append_event` sets `events_appended`; `transaction()` writes the head file after a commit
    that appended events. One generic place, so no feature has to remember it.
    """

    head_path: Path | None = None
    events_appended: bool = False


def is_corruption(exc: BaseException) -> bool:
    """True for SQLite errors that mean the database file is damaged, not merely busy."""
    return isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc).lower() for w in _CORRUPTION_WORDS)


def corruption_error(exc: sqlite3.Error, path: Path | str | None = None) -> IntegrityError:
    where = f" {path}" if path else ""
    return IntegrityError(
        f"the store database{where} is damaged: {exc}",
        hint="restore mlops.db from a backup, or rebuild a store with `mlops audit recover --output DIR`",
    )


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
        if is_corruption(exc):
            raise corruption_error(exc, path) from exc
        raise StoreError(f"cannot open store database {path}: {exc}") from exc
    conn.head_path = path.with_name(HEAD_FILENAME)
    return conn


def _open(target: str, *, uri: bool) -> sqlite3.Connection:
    return sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
        uri=uri,
        factory=StoreConnection,
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue up.

    Commits when the block ends, rolls back on any exception. After a commit that appended
    audit events, the head file outside the database is moved to the new head.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _store_error(exc) from exc
    if isinstance(conn, StoreConnection):
        conn.events_appended = False
    try:
        yield conn
    except BaseException as exc:
        conn.execute("ROLLBACK")
        if is_corruption(exc):
            raise corruption_error(exc) from exc
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise _store_error(exc) from exc
    if isinstance(conn, StoreConnection) and conn.events_appended and conn.head_path is not None:
        conn.events_appended = False
        write_head_file(conn, conn.head_path)
    for callback in AFTER_COMMIT:
        callback(conn)


def _store_error(exc: sqlite3.Error) -> MlopsError:
    if is_corruption(exc):
        return corruption_error(exc)
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return StoreError("the store is on a read-only filesystem or not writable", hint=text)
    if "disk" in text and "full" in text:
        return StoreError("the disk is full; nothing was written")
    return StoreError(f"store database error: {text}")
