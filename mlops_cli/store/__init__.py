"""The `.mlops/` folder: a SQLite database and a content-addressed blob area.

`open_store()` finds and opens it; `init_store()` creates it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from mlops_cli.domain import Provenance
from mlops_cli.errors import StoreError
from mlops_cli.store.cas import ObjectStore, TempLeftovers, _os_error
from mlops_cli.store.db import connect, transaction
from mlops_cli.store.events import append_event
from mlops_cli.store.migrations import SCHEMA_VERSION, migrate
from mlops_cli.store.project import StorePaths, find_store, store_paths_for_init

__all__ = ["Store", "StorePaths", "open_store", "init_store"]


class Store:
    """An open store: its paths, one database connection and its blobs."""

    def __init__(self, paths: StorePaths, conn: sqlite3.Connection) -> None:
        self.paths = paths
        self.conn = conn
        self.objects = ObjectStore(paths.objects, paths.tmp)
        self._trash: Path | None = None  # blobs moved aside by the last `trash_blobs`
        # Temp data of dead processes found (and removed) when the store was opened.
        self.leftovers: TempLeftovers | None = None

    def trash_blobs(self, digests: list[str]) -> Callable[[], None]:
        """Move blobs aside (still inside a transaction); return a function that restores them.

        The trash is emptied by `empty_trash()` once the transaction has committed.
        """
        trash = self.paths.tmp / f"{os.getpid()}-trash-{secrets.token_hex(4)}"
        moved: list[tuple[Path, Path]] = []
        for digest in digests:
            source = self.objects.path_for(digest)
            if not source.exists():
                continue
            trash.mkdir(parents=True, exist_ok=True)
            target = trash / source.name
            os.replace(source, target)
            moved.append((target, source))
        self._trash = trash

        def restore() -> None:
            for target, source in moved:
                os.replace(target, source)

        return restore

    def empty_trash(self) -> None:
        if self._trash is not None:
            shutil.rmtree(self._trash, ignore_errors=True)
        self._trash = None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(explicit: Path | None = None) -> Store:
    """Open the store named by `--store`/MLOPS_STORE or the nearest `.mlops/` upwards.

    Raises StoreNotFoundError (exit 3) when there is none, StoreError when it is unusable
    (for example written by a newer mlops).
    """
    paths = find_store(explicit)
    conn = connect(paths.db)
    try:
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot read the store database {paths.db}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    store = Store(paths, conn)
    store.leftovers = store.objects.sweep_stale_temp()
    return store


def init_store(project_dir: Path, provenance: Provenance) -> tuple[Store, bool]:
    """Create `.mlops/` in `project_dir` (idempotent); return the store and whether it is new."""
    paths = store_paths_for_init(project_dir)
    created = not paths.db.exists()
    try:
        for folder in (paths.root, paths.objects, paths.tmp, paths.jobs, paths.cache):
            folder.mkdir(parents=True, exist_ok=True)
        gitignore = paths.root / ".gitignore"
        if not gitignore.exists():
            # Blobs, temp files and caches are not for git; the database may be, by choice.
            gitignore.write_text("objects/\ntmp/\ncache/\njobs/\n*.db-wal\n*.db-shm\n")
    except OSError as exc:
        raise _os_error(exc, "creating the store") from exc
    conn = connect(paths.db, create=True)
    try:
        migrate(conn)
        if created:
            with transaction(conn):
                append_event(conn, "init", str(paths.root), provenance, {"schema_version": SCHEMA_VERSION})
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot create the store database {paths.db}: {exc}") from exc
    return Store(paths, conn), created
