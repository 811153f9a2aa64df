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
    """A connection that knows its store folder, whether it was opened read-only, and where the
    audit head file lives.

    So a write on a read-only store fails with one clear line before it starts, instead of
    sqlite's "attempt to write a readonly database" from deep inside a command; and
    `append_event` sets `events_appended` so that `transaction()` writes the head file after a
    commit that appended events: one generic place, no feature has to remember it.
    """

    store_root: Path | None = None
    read_only: bool = False
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


def read_only_error(store_root: Path | None, detail: str | None = None) -> StoreError:
    """The one message for every write refused because the store cannot be written."""
    where = f"at {store_root} " if store_root is not None else ""
    return StoreError(
        f"the store {where}is read-only; nothing was changed",
        hint=detail or "commands that only read, such as models list and audit verify, still work",
    )


# Called as callback(conn) after every successful COMMIT of `transaction()`: the events package
# starts hook delivery there, after the change is durable and never inside the transaction.
AFTER_COMMIT: list[Callable[[sqlite3.Connection], None]] = []


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store database with WAL, foreign keys and a generous busy timeout.

    The connection is in autocommit mode; writes go through `transaction()`. A store that
    cannot be written (read-only filesystem or permissions) is opened read-only; a write then
    raises StoreError "the store at X is read-only".
    """
    if not create and not path.is_file():
        raise StoreError(f"store database {path} is missing")
    writable = os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    try:
        try:
            conn = _open(str(path), uri=False)
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError:
            if writable or not path.is_file():
                raise
            # A store on a read-only filesystem can still be read: nothing will change under us.
            conn = _open(f"{path.absolute().as_uri()}?immutable=1", uri=True)
            writable = False
        conn.store_root = path.parent
        conn.read_only = not writable
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


def _open(target: str, *, uri: bool) -> StoreConnection:
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

    Commits when the block ends, rolls back on any exception. Raises StoreError when the
    store is read-only (before anything runs) or the database refuses the write, IntegrityError
    when it is damaged. After a commit that appended audit events, the head file outside the
    database is moved to the new head; then the after-commit callbacks run.
    """
    if getattr(conn, "read_only", False):
        raise read_only_error(getattr(conn, "store_root", None))
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _store_error(exc, conn) from exc
    if isinstance(conn, StoreConnection):
        conn.events_appended = False
    try:
        yield conn
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        if _is_read_only(exc):
            raise _store_error(exc, conn) from exc
        if is_corruption(exc):
            raise corruption_error(exc) from exc
        raise
    except BaseException as exc:
        conn.execute("ROLLBACK")
        if is_corruption(exc):
            raise corruption_error(exc) from exc
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise _store_error(exc, conn) from exc
    if isinstance(conn, StoreConnection) and conn.events_appended and conn.head_path is not None:
        conn.events_appended = False
        write_head_file(conn, conn.head_path)
    for callback in AFTER_COMMIT:
        callback(conn)


def _is_read_only(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "readonly" in text or "read-only" in text


def _store_error(exc: sqlite3.Error, conn: sqlite3.Connection | None = None) -> MlopsError:
    if is_corruption(exc):
        return corruption_error(exc)
    text = str(exc)
    if _is_read_only(exc):
        return read_only_error(getattr(conn, "store_root", None), _hint_of(text))
    if "disk" in text and "full" in text:
        return StoreError("the disk is full; nothing was written")
    return StoreError(f"store database error: {text}")


def _hint_of(text: str) -> str:
    return f"sqlite: {text}"
