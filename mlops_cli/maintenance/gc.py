"""`mlops gc`: remove blobs nothing references, safely next to concurrent writers.

Safety, in order:
- The whole decision and every move happen under the store's write lock (BEGIN IMMEDIATE), so
  no version can start referencing a blob between "unreferenced" and "moved".
- A blob file younger than the grace period is kept: a `register` writes its blobs before it
  takes the lock, and touches a blob it reuses, so what it is about to reference is fresh.
- Each blob is moved atomically (rename) into a trash folder named after this process, and the
  folder is deleted after the commit. If gc is killed, the transaction rolls back and the next
  run (or any writer) removes the dead process's trash; a blob already gone is skipped. Running
  gc twice, or after an interruption, converges on the same store.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.durations import parse_duration
from mlops_cli.store import Store
from mlops_cli.store import gc as store_gc
from mlops_cli.store.db import transaction
from mlops_cli.store.deployments import rollback_target_blobs
from mlops_cli.store.events import append_event

DEFAULT_GRACE = "1h"


@dataclass(frozen=True)
class Garbage:
    """One blob gc removes (or would): its size and why nothing references it."""

    digest: str
    size: int
    reason: str


@dataclass
class GcReport:
    dry_run: bool
    grace_seconds: float
    blobs: list[Garbage] = field(default_factory=list)
    temp_files: list[dict[str, Any]] = field(default_factory=list)
    kept_fresh: int = 0  # unreferenced but younger than the grace period
    kept_for_deployments: list[dict[str, str]] = field(default_factory=list)  # digest, reason
    scanned: int = 0
    event: int | None = None

    @property
    def count(self) -> int:
        return len(self.blobs)

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "count": self.count,
            "bytes": self.bytes,
            "blobs": [b.__dict__ for b in self.blobs],
            "temp_files": self.temp_files,
            "temp_bytes": sum(t["size"] for t in self.temp_files),
            "kept_fresh": self.kept_fresh,
            "kept_for_deployments": self.kept_for_deployments,
            "scanned": self.scanned,
            "grace_seconds": self.grace_seconds,
            "event": self.event,
        }


def collect_garbage(store: Store, *, dry_run: bool = False, grace: str = DEFAULT_GRACE) -> GcReport:
    """Find (and unless `dry_run`, remove) unreferenced blobs and stale temp files.

    Returns the report; a real run also appends a `gc` audit event listing what it removed.
    """
    grace_seconds = parse_duration(grace, what="--grace")
    prov = None if dry_run else provenance()  # git runs subprocesses: not while holding the lock
    report = GcReport(dry_run=dry_run, grace_seconds=grace_seconds)
    trash = None
    restore: list[tuple[Any, Any]] = []
    try:
        with _read_snapshot(store.conn) if dry_run else transaction(store.conn) as conn:
            cutoff = time.time() - grace_seconds
            referenced = store_gc.referenced_digests(conn)
            # What a deployment serves or could `deploy rollback` to stays, whatever else happened.
            for_deployments = rollback_target_blobs(conn)
            referenced |= set(for_deployments)
            recorded = store_gc.recorded_blobs(conn)
            found: dict[str, tuple[str, int]] = {}  # digest -> (path, size)
            for blob in store_gc.blob_files(store.objects):
                report.scanned += 1
                if blob.digest in for_deployments:
                    why = for_deployments[blob.digest]
                    report.kept_for_deployments.append({"digest": blob.digest, "reason": why})
                if blob.digest in referenced:
                    continue
                stat = store_gc.size_and_mtime(blob.path)
                if stat is None:
                    continue
                if stat[1] > cutoff:
                    report.kept_fresh += 1
                    continue
                found[blob.digest] = (blob.path, stat[0])
            # Rows whose file is already gone (an interrupted run): forget them too.
            rows_only = [d for d in recorded if d not in referenced and d not in found]
            rows_only = [d for d in rows_only if not store.objects.path_for(d).exists()]
            digests = sorted({*found, *rows_only})
            reasons = _reasons(conn, digests, recorded)
            report.blobs = [
                Garbage(d, found[d][1] if d in found else recorded.get(d, 0), reasons[d]) for d in digests
            ]
            temp = store_gc.stale_temp_files(store.objects, cutoff)
            report.temp_files = [{"path": str(p), "size": size} for p, size in temp]
            if dry_run:
                return report
            if found:
                trash = store_gc.new_trash(store.paths.tmp)
                for digest, (path, _) in found.items():
                    target = trash / digest.partition(":")[2]
                    if store_gc.move_to_trash(path, target):
                        restore.append((target, path))
            store_gc.forget_blobs(conn, digests)
            event = append_event(
                conn,
                "gc",
                str(store.paths.root),
                prov,
                {
                    "removed": [{"digest": b.digest, "size": b.size} for b in report.blobs],
                    "count": report.count,
                    "bytes": report.bytes,
                    "temp_files": len(report.temp_files),
                    "grace_seconds": grace_seconds,
                },
            )
            report.event = event.seq
    except BaseException:
        for moved, original in restore:
            try:
                os.replace(moved, original)
            except FileNotFoundError:
                pass  # already restored or never moved
        raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    for path_text in (t["path"] for t in report.temp_files):
        _remove(path_text)
    return report


@contextmanager
def _read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A consistent read for --dry-run, without taking the write lock."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def _remove(path_text: str) -> None:
    from pathlib import Path

    path = Path(path_text)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _reasons(conn, digests: list[str], recorded: dict[str, int]) -> dict[str, str]:
    """Why nothing references each digest, from the audit trail (one pass over the events)."""
    if not digests:
        return {}
    wanted = set(digests)
    mentions: dict[str, tuple[int, str, str]] = {}
    removed: dict[str, int] = {}
    for seq, action, subject, details in conn.execute(
        "SELECT seq, action, subject, details FROM events WHERE action = 'rm' OR details LIKE '%sha256:%'"
        " ORDER BY seq"
    ):
        if action == "rm":
            removed[subject] = seq
        for digest in store_gc.DIGEST_IN_TEXT.findall(details):
            if digest in wanted and action != "gc":
                mentions[digest] = (seq, action, subject)
    reasons = {}
    for digest in digests:
        if digest in mentions:
            seq, action, subject = mentions[digest]
            if removed.get(subject, 0) > seq:
                reasons[digest] = f"version {subject} removed at event {removed[subject]}"
            else:
                reasons[digest] = (
                    f"last named by event {seq} ({action} {subject}); nothing current references it"
                )
        elif digest in recorded:
            reasons[digest] = "recorded, but no version, dataset, artifact, job or deployment references it"
        else:
            reasons[digest] = "never recorded: left by an interrupted write"
    return reasons
