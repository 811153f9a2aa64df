"""Jobs (batch scoring, monitoring runs) and artifacts built from versions (images).

Like the registry, every write is one transaction with its audit event.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from mlops_cli.domain import Artifact, Job, ModelRef, Provenance
from mlops_cli.errors import NotFoundError, StoreError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, utc_now
from mlops_cli.store.registry_lookup import artifact_from_row, resolve_id

# A job in one of these can still be resumed: it needs its version's files.
UNFINISHED = ("running", "interrupted", "failed")


def _job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        model_ref=row["model_ref"],
        model_digest=row["model_digest"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        details=json.loads(row["details"]),
    )


def create_job(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    model_ref: str | None,
    model_digest: str | None,
    details: dict[str, Any],
    provenance: Provenance,
) -> Job:
    """Record a job as running, with a `<kind>.start` audit event."""
    with transaction(conn):
        _insert_started(conn, job_id, kind, model_ref, model_digest, details, provenance)
    return get_job(conn, job_id)


def finish_job(
    conn: sqlite3.Connection, job_id: str, status: str, details: dict[str, Any], provenance: Provenance
) -> Job:
    """Set a job's final status and merge `details` into its record, with a `<kind>` event."""
    with transaction(conn):
        _update_finished(conn, get_job(conn, job_id), status, details, provenance)
    return get_job(conn, job_id)


def record_started_and_finished(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    start_details: dict[str, Any],
    status: str,
    details: dict[str, Any],
    provenance: Provenance,
) -> Job:
    """`create_job` then `finish_job` in ONE transaction: the same row and the same two events
    (`<kind>.start`, `<kind>`), for a job with nothing to do in between (a `pipeline run` that
    found every step up to date). Killed at any point, it leaves both or neither."""
    with transaction(conn):
        started = _insert_started(conn, job_id, kind, None, None, start_details, provenance)
        _update_finished(conn, started, status, details, provenance)
    return get_job(conn, job_id)


def _insert_started(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    model_ref: str | None,
    model_digest: str | None,
    details: dict[str, Any],
    provenance: Provenance,
) -> Job:
    now = utc_now()
    conn.execute(
        "INSERT INTO jobs (id, kind, model_ref, model_digest, status, created_at, updated_at, details)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (job_id, kind, model_ref, model_digest, "running", now, now, json.dumps(details, sort_keys=True)),
    )
    state = {"job": _job_state(job_id, kind, "running", model_ref, model_digest)}
    append_event(conn, f"{kind}.start", job_id, provenance, {"model": model_ref, **details, "state": state})
    return Job(job_id, kind, model_ref, model_digest, "running", now, now, details)


def _update_finished(
    conn: sqlite3.Connection, job: Job, status: str, details: dict[str, Any], provenance: Provenance
) -> None:
    merged = {**job.details, **details}
    conn.execute(
        "UPDATE jobs SET status = ?, updated_at = ?, details = ? WHERE id = ?",
        (status, utc_now(), json.dumps(merged, sort_keys=True), job.id),
    )
    state = {"job": _job_state(job.id, job.kind, status, job.model_ref, job.model_digest)}
    append_event(
        conn,
        job.kind,
        job.id,
        provenance,
        {"status": status, "model": job.model_ref, **details, "state": state},
    )


def _job_state(
    job_id: str, kind: str, status: str, model_ref: str | None, model_digest: str | None
) -> dict[str, Any]:
    """What replay needs to rebuild a job's row (audit/replay.py)."""
    return {
        "id": job_id,
        "kind": kind,
        "status": status,
        "model_ref": model_ref,
        "model_digest": model_digest,
    }


def record_job(
    conn: sqlite3.Connection,
    job_id: str,
    kind: str,
    model_ref: str | None,
    model_digest: str | None,
    status: str,
    details: dict[str, Any],
    action: str,
    event_details: dict[str, Any],
    provenance: Provenance,
) -> Job:
    """Record a job that ran to its end, with one `action` audit event, in one transaction.

    For short jobs (a monitoring check) that have nothing to resume: the row and its event are
    written together once the result is known.
    """
    now = utc_now()
    with transaction(conn):
        conn.execute(
            "INSERT INTO jobs (id, kind, model_ref, model_digest, status, created_at, updated_at, details)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (job_id, kind, model_ref, model_digest, status, now, now, json.dumps(details, sort_keys=True)),
        )
        state = {"job": _job_state(job_id, kind, status, model_ref, model_digest)}  # for replay
        append_event(
            conn,
            action,
            job_id,
            provenance,
            {"model": model_ref, "job": job_id, **event_details, "state": state},
        )
    return get_job(conn, job_id)


def get_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no job {job_id!r}")
    return _job_from_row(row)


def unfinished_jobs_of(conn: sqlite3.Connection, model_ref: str, model_digest: str) -> list[Job]:
    """Jobs of this exact version (name:N and digest) that could still be resumed, oldest first."""
    marks = ",".join("?" * len(UNFINISHED))
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE model_ref = ? AND model_digest = ? AND status IN ({marks})"
        " ORDER BY created_at",
        (model_ref, model_digest, *UNFINISHED),
    )
    return [_job_from_row(r) for r in rows]


def list_jobs(conn: sqlite3.Connection, kind: str | None = None, limit: int = 50) -> list[Job]:
    if kind:
        rows = conn.execute(
            "SELECT * FROM jobs WHERE kind = ? ORDER BY created_at DESC LIMIT ?", (kind, limit)
        )
    else:
        rows = conn.execute("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
    return [_job_from_row(r) for r in rows]


def add_artifact(
    conn: sqlite3.Connection,
    ref: ModelRef,
    kind: str,
    artifact_ref: str,
    digest: str | None,
    details: dict[str, Any],
    provenance: Provenance,
    action: str | None = None,
    blob_size: int | None = None,
    blob_exists: Callable[[str, int], bool] | None = None,
) -> Artifact:
    """Record something built from a version (for example an image), with a `<kind>` event.

    `action` names the audit event instead of the kind (`monitor.baseline` for a baseline).
    `blob_size`: the artifact is a blob of the store (a baseline), recorded in the blobs table
    in the same transaction, so `audit verify` re-hashes it like every other blob;
    `blob_exists(digest, size)` is checked under the same lock.
    """
    return add_artifacts(
        conn, [ref], kind, artifact_ref, digest, details, provenance, action, blob_size, blob_exists
    )[0]


def add_artifacts(
    conn: sqlite3.Connection,
    refs: list[ModelRef],
    kind: str,
    artifact_ref: str,
    digest: str | None,
    details: dict[str, Any],
    provenance: Provenance,
    action: str | None = None,
    blob_size: int | None = None,
    blob_exists: Callable[[str, int], bool] | None = None,
) -> list[Artifact]:
    """`add_artifact` for each version in `refs`, in one transaction: an image that serves
    several versions is recorded with all of them or, if anything fails, with none."""
    now = utc_now()
    with transaction(conn):
        version_ids = [resolve_id(conn, ref)[1] for ref in refs]  # every ref known before a write
        if blob_size is not None and digest:
            # Checked under the write lock, as `register` does: a concurrent `gc` cannot have
            # removed the blob between its write and this row.
            if blob_exists is not None and not blob_exists(digest, blob_size):
                raise StoreError(f"blob {digest} vanished while recording the {kind}; try again")
            conn.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, blob_size))
        for version_id in version_ids:
            _insert_artifact(conn, version_id, kind, artifact_ref, digest, details, provenance, action, now)
    return [Artifact(kind, artifact_ref, digest, now, details) for _ in refs]


def _insert_artifact(
    conn: sqlite3.Connection,
    version_id: int,
    kind: str,
    artifact_ref: str,
    digest: str | None,
    details: dict[str, Any],
    provenance: Provenance,
    action: str | None,
    now: str,
) -> None:
    """One artifact row and its audit event, inside the caller's transaction."""
    conn.execute(
        "INSERT INTO artifacts (version_id, kind, ref, digest, details, created_at) VALUES (?,?,?,?,?,?)",
        (version_id, kind, artifact_ref, digest, json.dumps(details, sort_keys=True), now),
    )
    version = conn.execute(
        "SELECT m.name, v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = ?",
        (version_id,),
    ).fetchone()
    append_event(
        conn,
        action or kind,
        f"{version['name']}:{version['version']}",
        provenance,
        {
            "ref": artifact_ref,
            "digest": digest,
            **details,
            "state": {
                "artifact": {
                    "version": f"{version['name']}:{version['version']}",
                    "kind": kind,
                    "ref": artifact_ref,
                    "digest": digest,
                }
            },
        },
    )


def list_artifacts(conn: sqlite3.Connection, ref: ModelRef, kind: str | None = None) -> list[Artifact]:
    _, version_id = resolve_id(conn, ref)
    sql = "SELECT * FROM artifacts WHERE version_id = ?"
    params: list[Any] = [version_id]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    return [artifact_from_row(r) for r in conn.execute(sql + " ORDER BY id", params)]
