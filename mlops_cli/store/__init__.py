"""The `.mlops/` folder: a SQLite database and a content-addressed blob area.

`open_store()` finds and opens it, refusing a damaged one; `init_store()` creates it (the only
command that creates a schema); `create_store()` is the empty store `audit recover` fills.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_cli.errors import IntegrityError, StoreError
from mlops_cli.store.cas import ObjectStore, TempLeftovers, _os_error, count_blobs, hex_of
from mlops_cli.store.checked import database_stamp, forget_pass, passed_before, record_pass
from mlops_cli.store.db import connect, corruption_error, is_corruption, transaction
from mlops_cli.store.head import write_head_file
from mlops_cli.store.migrations import SCHEMA_VERSION, migrate, schema_version
from mlops_cli.store.project import StorePaths, find_store, store_paths_for_init
from mlops_cli.store.records import RECORDS_DIRNAME, Records

if TYPE_CHECKING:  # the domain and the audit trail's code load when a store is created, not
    # for every import of a store module (a no-op `pipeline run` needs only paths and blobs)
    from mlops_cli.domain import Provenance

__all__ = ["Store", "StorePaths", "open_store", "init_store", "create_store", "make_owner_only"]


class Store:
    """An open store: its paths, one database connection and its blobs."""

    def __init__(self, paths: StorePaths, conn: sqlite3.Connection) -> None:
        self.paths = paths
        self.conn = conn
        self.objects = ObjectStore(paths.objects, paths.tmp)
        self.records = Records(paths.root / RECORDS_DIRNAME)
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

    Raises StoreNotFoundError (exit 3) when there is none, IntegrityError (exit 5) when its
    database is missing, empty, without a schema or damaged (only `init` creates a schema: a
    store is never silently re-created over lost data), StoreError when it is unusable
    otherwise (for example written by a newer mlops).
    """
    paths = find_store(explicit)
    check_database_file(paths)
    stamp = database_stamp(paths.db)
    conn = connect(paths.db)
    try:
        before = schema_version(conn)
        if before == 0 and not _has_tables(conn):
            raise damaged_store_error(paths, "has no mlops schema (an empty or foreign SQLite file)")
        migrate(conn)
        _quick_check(conn, paths, stamp)
        if before < SCHEMA_VERSION and not conn.head_path.exists():
            # First opened by an mlops that keeps the head file: start it from the trail as is.
            write_head_file(conn, conn.head_path)
    except sqlite3.Error as exc:
        conn.close()
        if is_corruption(exc):
            raise corruption_error(exc, paths.db) from exc
        raise StoreError(f"cannot read the store database {paths.db}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    store = Store(paths, conn)
    _restore_trashed_blobs(store)
    store.leftovers = store.objects.sweep_stale_temp()
    return store


# Every blob a row still names: a version's files and datasets, an artifact (a baseline).
_REFERENCED = (
    "SELECT digest FROM files UNION SELECT digest FROM datasets"
    " UNION SELECT digest FROM artifacts WHERE digest IS NOT NULL"
)


def _restore_trashed_blobs(store: Store) -> int:
    """Put back the blobs a killed `rm` or `gc` had moved aside while their rows survived.

    Both move blobs into a trash folder of their process inside their transaction and empty it
    after the commit. Killed in between, the transaction rolls back (the rows stay) while the
    blobs sit in a dead process's trash, which the sweep of stale temp data would delete. A
    trash file is named by its digest without the two characters of its folder.
    """
    trashes = [e for e in store.objects.stale_temp_entries() if e.is_dir() and not e.is_symlink()]
    if not trashes or getattr(store.conn, "read_only", False):
        return 0
    referenced = {hex_of(digest)[2:]: digest for (digest,) in store.conn.execute(_REFERENCED)}
    restored = 0
    for trash in trashes:
        for blob in trash.iterdir():
            digest = referenced.get(blob.name)
            if digest is None or store.objects.path_for(digest).exists():
                continue
            target = store.objects.path_for(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(blob, target)
            restored += 1
    return restored


# Every page is checked at each open up to this size (about 1 ms per MB; 10,000 versions take
# about 25 MB); larger stores rely on each query's own checks and on `audit verify`.
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024


def _quick_check(conn: sqlite3.Connection, paths: StorePaths, stamp: list) -> None:
    """A damaged page a command would not read (an index, another table) still stops it.

    Skipped when the files are exactly as they were at the last clean check (store/checked.py).
    """
    if paths.db.stat().st_size > QUICK_CHECK_MAX_BYTES or passed_before(paths.cache, stamp):
        return
    row = conn.execute("PRAGMA quick_check(1)").fetchone()
    if row[0] != "ok":
        forget_pass(paths.cache)
        raise corruption_error(sqlite3.DatabaseError(f"database disk image is malformed: {row[0]}"), paths.db)
    record_pass(paths.cache, stamp)


def check_database_file(paths: StorePaths) -> None:
    """Refuse a store whose database file is missing or empty (IntegrityError, exit 5)."""
    try:
        size = paths.db.stat().st_size
    except FileNotFoundError:
        raise damaged_store_error(paths, "is missing") from None
    except OSError as exc:
        raise damaged_store_error(paths, f"cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise damaged_store_error(paths, "is empty (0 bytes)")


def damaged_store_error(paths: StorePaths, what: str) -> IntegrityError:
    """The error for a store whose database is gone or unusable, saying what can be done."""
    blobs = count_blobs(paths.objects)
    if blobs:
        hint = (
            f"objects/ still holds {blobs} blobs: restore {paths.db.name} from a backup, or rebuild a"
            " store from the blobs and the surviving events with `mlops audit recover --output DIR`"
        )
    else:
        hint = f"restore {paths.db.name} from a backup; with no blobs left, `mlops init` starts a new store"
    return IntegrityError(f"the store database {paths.db} {what}; nothing was changed", hint=hint)


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None


def init_store(project_dir: Path, provenance: Provenance) -> tuple[Store, bool]:
    """Create `.mlops/` in `project_dir` (idempotent); return the store and whether it is new.

    A store whose database is missing or empty while objects/ holds blobs is not re-created
    (IntegrityError, exit 5): that would hide the loss behind a fresh, empty registry.
    """
    paths = store_paths_for_init(project_dir)
    created = not paths.db.exists() or paths.db.stat().st_size == 0
    if created and count_blobs(paths.objects):
        raise damaged_store_error(paths, "is missing" if not paths.db.exists() else "is empty (0 bytes)")
    if not created:
        # An existing database is opened, never re-created: open_store says what is wrong with it.
        return open_store(paths.root), False
    from mlops_cli.store.events import append_event

    store = create_store(paths)
    try:
        with transaction(store.conn):
            append_event(store.conn, "init", str(paths.root), provenance, {"schema_version": SCHEMA_VERSION})
    except sqlite3.Error as exc:
        store.close()
        raise StoreError(f"cannot create the store database {paths.db}: {exc}") from exc
    return store, created


OWNER_ONLY = 0o700


def make_owner_only(root: Path) -> int | None:
    """Make a store folder owner-only (0700); return its mode before when that changed it.

    A new `.mlops/` is created so; one made by an older mlops kept the umask's 0755, which lets
    every local user read the registry, the trail and the blobs. `mlops init` calls this (and
    says so); opening a store never changes its mode behind the user's back. Raises StoreError
    when the folder's mode cannot be changed (another user's store).
    """
    try:
        mode = root.stat().st_mode & 0o777
        if mode & 0o077 == 0:
            return None
        os.chmod(root, mode & OWNER_ONLY)
    except OSError as exc:
        raise StoreError(
            f"cannot make {root} owner-only: {exc.strerror or exc}",
            hint=f"its owner can run `chmod go-rwx {root}`",
        ) from exc
    return mode


def create_store(paths: StorePaths) -> Store:
    """The folders and an empty schema, without any event: `init` and `audit recover` add them."""
    try:
        new_root = not paths.root.exists()
        for folder in (paths.root, paths.objects, paths.tmp, paths.jobs, paths.cache):
            folder.mkdir(parents=True, exist_ok=True)
        if new_root:
            # Owner-only: the registry, the trail, the blobs and collected data are nobody
            # else's to read on a shared machine (share them through a remote instead).
            os.chmod(paths.root, OWNER_ONLY)
        gitignore = paths.root / ".gitignore"
        if not gitignore.exists():
            # Blobs, temp files and caches are not for git; the database may be, by choice.
            gitignore.write_text("objects/\ntmp/\ncache/\njobs/\n*.db-wal\n*.db-shm\n*.lock\n")
    except OSError as exc:
        raise _os_error(exc, "creating the store") from exc
    conn = connect(paths.db, create=True)
    try:
        migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot create the store database {paths.db}: {exc}") from exc
    return Store(paths, conn)
