"""What garbage collection needs from the store: references, the blobs on disk, removal.

A blob is referenced by a version's files, a dataset, an artifact (images, baselines,
profiles: `artifacts.digest`), or any `sha256:` digest named in a job's or an artifact's
details, a version's metadata (its environment snapshot) or a deployments row. Scanning
those JSON texts for digests errs on the side of keeping: a blob named anywhere is never
collected.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.hashing import ALGORITHM
from mlops_cli.store.cas import ObjectStore, tree_size

DIGEST_IN_TEXT = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobFile:
    digest: str
    path: str  # a str, not a Path: gc walks 50,000+ of them and Path() costs more than the walk


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


def referenced_digests(conn: sqlite3.Connection) -> set[str]:
    """Every blob digest something current refers to."""
    refs: set[str] = set()
    for sql in (
        "SELECT DISTINCT digest FROM files",
        "SELECT DISTINCT digest FROM datasets",
        "SELECT DISTINCT digest FROM artifacts WHERE digest IS NOT NULL",
    ):
        refs.update(row[0] for row in conn.execute(sql))
    texts = ["SELECT details FROM jobs WHERE details LIKE '%sha256:%'"]
    texts.append("SELECT details FROM artifacts WHERE details LIKE '%sha256:%'")
    # a version's environment snapshot (metadata.environment.digest) is a blob of its own
    texts.append("SELECT metadata FROM versions WHERE metadata LIKE '%sha256:%'")
    if _table_exists(conn, "deployments"):  # added by `mlops deploy`; every column may name a blob
        columns = [r["name"] for r in conn.execute("PRAGMA table_info(deployments)")]
        texts.append(
            "SELECT " + " || ' ' || ".join(f"""COALESCE("{c}", '')""" for c in columns) + " FROM deployments"
        )
    for sql in texts:
        for (text,) in conn.execute(sql):
            refs.update(DIGEST_IN_TEXT.findall(str(text)))
    return refs


def recorded_blobs(conn: sqlite3.Connection) -> dict[str, int]:
    return {row[0]: row[1] for row in conn.execute("SELECT digest, size FROM blobs")}


def blob_files(objects: ObjectStore) -> Iterator[BlobFile]:
    """Every blob file on disk (`objects/sha256/ab/cdef...`); other names are left alone.

    Only names are read (no stat), so walking a large store costs little more than `find`.
    """
    if not objects.root.is_dir():
        return
    with os.scandir(objects.root) as prefixes:
        for prefix in prefixes:
            if len(prefix.name) != 2 or not prefix.is_dir(follow_symlinks=False):
                continue
            head = f"{ALGORITHM}:{prefix.name}"
            with os.scandir(prefix.path) as entries:
                for entry in entries:
                    if len(entry.name) == 62 and entry.is_file(follow_symlinks=False):
                        yield BlobFile(head + entry.name, entry.path)


def size_and_mtime(path: str) -> tuple[int, float] | None:
    """The blob's size and mtime, or None when it vanished meanwhile."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime


def stale_temp_files(objects: ObjectStore, older_than: float) -> list[tuple[Path, int]]:
    """Temp files and trash folders whose writer is gone (dead pid), or nameless and old."""
    return [(entry, tree_size(entry)) for entry in objects.stale_temp_entries(nameless_older_than=older_than)]


def new_trash(tmp: Path) -> Path:
    """A trash folder for this process: stale (and removable) as soon as the process is gone."""
    trash = tmp / f"{os.getpid()}-gc-{secrets.token_hex(4)}"
    trash.mkdir(parents=True)
    return trash


def move_to_trash(blob: str, target: Path) -> bool:
    """Move one blob aside atomically; False when it is already gone (a resumed run)."""
    try:
        os.replace(blob, target)
    except FileNotFoundError:
        return False
    return True


def forget_blobs(conn: sqlite3.Connection, digests: list[str]) -> None:
    conn.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in digests])
