"""SQLite connections: every PRAGMA in one place, and one transaction helper for writes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_cli.errors import StoreError

# Writers queue behind each other instead of failing with "database is locked".
BUSY_TIMEOUT_MS = 60_000


class StoreConnection(sqlite3.Connection):
    """A connection that knows its store folder and whether it was opened read-only.

    So a write on a read-only store fails with one clear line before it starts, instead of
    sqlite's "attempt to write a readonly database" from deep inside a command.
    """

    store_root: Path | None = None
    read_only: bool = False


def read_only_error(store_root: Path | None, detail: str | None = None) -> StoreError:
    """The one message for every write refused because the store cannot be written."""
    where = f"at {store_root} " if store_root is not None else ""
    return StoreError(
        f"the store {where}is read-only; nothing was changed",
        hint=detail or "commands that only read, such as models list and audit verify, still work",
    )


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
        raise StoreError(f"cannot open store database {path}: {exc}") from exc
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
    store is read-only (before anything runs) or the database refuses the write.
    """
    if getattr(conn, "read_only", False):
        raise read_only_error(getattr(conn, "store_root", None))
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _store_error(exc, conn) from exc
    try:
        yield conn
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        if _is_read_only(exc):
            raise _store_error(exc, conn) from exc
        raise
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise _store_error(exc, conn) from exc


def _is_read_only(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "readonly" in text or "read-only" in text


def _store_error(exc: sqlite3.Error, conn: sqlite3.Connection | None = None) -> StoreError:
    text = str(exc)
    if _is_read_only(exc):
        return read_only_error(getattr(conn, "store_root", None), _hint_of(text))
    if "disk" in text and "full" in text:
        return StoreError("the disk is full; nothing was written")
    return StoreError(f"store database error: {text}")


def _hint_of(text: str) -> str:
    return f"sqlite: {text}"
