"""Deployments and their revisions: every write is one transaction with its audit event.

The event's details carry the full state written (the deployment and the revision rows), so
the audit trail alone can rebuild these tables.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from mlops_cli.domain import Deployment, Provenance, Revision
from mlops_cli.errors import NotFoundError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, utc_now

LIVE, RETIRED, FAILED = "live", "retired", "failed"


def _revision(row: sqlite3.Row, name: str) -> Revision:
    return Revision(
        deployment=name,
        revision=row["revision"],
        kind=row["kind"],
        model=row["model"],
        version=row["version"],
        digest=row["digest"],
        requested_ref=row["requested_ref"],
        outcome=row["outcome"],
        detail=row["detail"],
        spec=json.loads(row["spec"]),
        state=json.loads(row["state"]),
        rollback_of=row["rollback_of"],
        created_at=row["created_at"],
        actor=row["actor"],
        message=row["message"],
    )


def _deployment(conn: sqlite3.Connection, row: sqlite3.Row) -> Deployment:
    current = None
    if row["current_revision"] is not None:
        rev = conn.execute(
            "SELECT * FROM revisions WHERE deployment_id = ? AND revision = ?",
            (row["id"], row["current_revision"]),
        ).fetchone()
        current = _revision(rev, row["name"]) if rev else None
    return Deployment(
        name=row["name"],
        target=row["target"],
        current_revision=row["current_revision"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        current=current,
    )


def find_deployment(conn: sqlite3.Connection, name: str) -> Deployment | None:
    row = conn.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
    return _deployment(conn, row) if row else None


def get_deployment(conn: sqlite3.Connection, name: str) -> Deployment:
    """The deployment NAME; NotFoundError (listing the names there are) when none."""
    found = find_deployment(conn, name)
    if found is None:
        names = [r["name"] for r in conn.execute("SELECT name FROM deployments ORDER BY name")]
        hint = (
            f"deployments: {', '.join(names)}" if names else "create one with `mlops deploy REF --name NAME`"
        )
        raise NotFoundError(f"no deployment named {name!r}", hint=hint)
    return found


def list_deployments(conn: sqlite3.Connection) -> list[Deployment]:
    return [_deployment(conn, r) for r in conn.execute("SELECT * FROM deployments ORDER BY name")]


def list_revisions(conn: sqlite3.Connection, name: str) -> list[Revision]:
    """Every revision of NAME, oldest first."""
    rows = conn.execute(
        "SELECT r.* FROM revisions r JOIN deployments d ON d.id = r.deployment_id"
        " WHERE d.name = ? ORDER BY r.revision",
        (name,),
    )
    return [_revision(r, name) for r in rows]


def next_revision(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(
        "SELECT MAX(r.revision) AS n FROM revisions r JOIN deployments d ON d.id = r.deployment_id"
        " WHERE d.name = ?",
        (name,),
    ).fetchone()
    return (row["n"] or 0) + 1


def record_revision(
    conn: sqlite3.Connection, target: str, revision: Revision, action: str, provenance: Provenance
) -> Deployment:
    """Store a revision (creating the deployment on its first), with the `action` audit event.

    A live revision becomes the deployment's current one and retires the one before it.
    """
    now = utc_now()
    with transaction(conn):
        row = conn.execute("SELECT id FROM deployments WHERE name = ?", (revision.deployment,)).fetchone()
        if row is None:
            deployment_id = conn.execute(
                "INSERT INTO deployments (name, target, current_revision, created_at, updated_at)"
                " VALUES (?,?,NULL,?,?)",
                (revision.deployment, target, now, now),
            ).lastrowid
        else:
            deployment_id = row["id"]
        if revision.outcome == LIVE:
            conn.execute(
                "UPDATE revisions SET outcome = ? WHERE deployment_id = ? AND outcome = ?",
                (RETIRED, deployment_id, LIVE),
            )
            conn.execute(
                "UPDATE deployments SET current_revision = ?, updated_at = ? WHERE id = ?",
                (revision.revision, now, deployment_id),
            )
        else:
            conn.execute("UPDATE deployments SET updated_at = ? WHERE id = ?", (now, deployment_id))
        conn.execute(
            "INSERT INTO revisions (deployment_id, revision, kind, model, version, digest, requested_ref,"
            " outcome, detail, spec, state, rollback_of, created_at, actor, message)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                deployment_id,
                revision.revision,
                revision.kind,
                revision.model,
                revision.version,
                revision.digest,
                revision.requested_ref,
                revision.outcome,
                revision.detail,
                json.dumps(revision.spec, sort_keys=True, default=str),
                json.dumps(revision.state, sort_keys=True, default=str),
                revision.rollback_of,
                revision.created_at,
                revision.actor,
                revision.message,
            ),
        )
        deployment = _deployment(
            conn, conn.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        )
        append_event(
            conn,
            action,
            f"deployment:{revision.deployment}",
            provenance,
            {
                "deployment": _plain(asdict(deployment) | {"current": None}),
                "revision": _plain(revision.to_dict()),
                "model": revision.ref,
            },
        )
    return deployment


def delete_deployment(
    conn: sqlite3.Connection, name: str, provenance: Provenance, details: dict[str, Any]
) -> Deployment:
    """Remove NAME and its revisions, with a `deploy.delete` event holding everything removed."""
    with transaction(conn):
        row = conn.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no deployment named {name!r}")
        deployment = _deployment(conn, row)
        revisions = [
            _plain(r.to_dict())
            for r in (
                _revision(x, name)
                for x in conn.execute(
                    "SELECT * FROM revisions WHERE deployment_id = ? ORDER BY revision", (row["id"],)
                )
            )
        ]
        conn.execute("DELETE FROM deployments WHERE id = ?", (row["id"],))
        append_event(
            conn,
            "deploy.delete",
            f"deployment:{name}",
            provenance,
            {
                "deployment": _plain(asdict(deployment) | {"current": None}),
                "revisions": revisions,
                **details,
            },
        )
    return deployment


# Every version each revision serves: its own columns, and a multi-model revision's others
# (kept in its spec), so "which deployments use MODEL:VERSION" sees them all.
SERVED = (
    "WITH served(deployment_id, revision, model, version, outcome) AS ("
    " SELECT deployment_id, revision, model, version, outcome FROM revisions UNION ALL"
    " SELECT r.deployment_id, r.revision, json_extract(o.value, '$.model'),"
    " json_extract(o.value, '$.version'), r.outcome"
    " FROM revisions r, json_each(r.spec, '$.others') o) "
)


def live_deployments_of(conn: sqlite3.Connection, model: str, version: int) -> list[Deployment]:
    """The deployments whose current revision runs MODEL:VERSION."""
    rows = conn.execute(
        SERVED + "SELECT DISTINCT d.* FROM deployments d JOIN served r"
        " ON r.deployment_id = d.id AND r.revision = d.current_revision"
        " WHERE r.model = ? AND r.version = ? ORDER BY d.name",
        (model, version),
    )
    return [_deployment(conn, r) for r in rows]


def deployments_of(conn: sqlite3.Connection, model: str, version: int) -> list[dict[str, Any]]:
    """Every deployment with a revision of MODEL:VERSION: name, target, revisions, live or not."""
    rows = conn.execute(
        SERVED + "SELECT d.name, d.target, d.current_revision, r.revision, r.outcome FROM deployments d"
        " JOIN served r ON r.deployment_id = d.id WHERE r.model = ? AND r.version = ?"
        " ORDER BY d.name, r.revision",
        (model, version),
    )
    found: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = found.setdefault(
            r["name"], {"name": r["name"], "target": r["target"], "revisions": [], "live": False}
        )
        entry["revisions"].append(r["revision"])
        if r["revision"] == r["current_revision"]:
            entry["live"] = True
    return list(found.values())


def _plain(data: Any) -> Any:
    """JSON-safe (paths and the like as text) for event details."""
    return json.loads(json.dumps(data, default=str))


def rollback_targets_of(conn: sqlite3.Connection, model: str, version: int) -> list[dict[str, Any]]:
    """Existing deployments that serve MODEL:VERSION or could roll back to it: every revision that
    served (live or retired) is a `deploy rollback --to N` target while its deployment exists."""
    rows = conn.execute(
        SERVED + "SELECT d.name, r.revision, r.outcome FROM deployments d JOIN served r"
        " ON r.deployment_id = d.id WHERE r.model = ? AND r.version = ? AND r.outcome IN (?, ?)"
        " ORDER BY d.name, r.revision",
        (model, version, LIVE, RETIRED),
    )
    return [{"name": r["name"], "revision": r["revision"], "live": r["outcome"] == LIVE} for r in rows]


def rollback_target_blobs(conn: sqlite3.Connection) -> dict[str, str]:
    """digest -> why it is kept: the files of every version a deployment serves or could roll
    back to (`gc` keeps them and says so)."""
    rows = conn.execute(
        SERVED + "SELECT f.digest, d.name, r.revision, r.model, r.version, r.outcome FROM served r"
        " JOIN deployments d ON d.id = r.deployment_id"
        " JOIN models m ON m.name = r.model JOIN versions v ON v.model_id = m.id AND v.version = r.version"
        " JOIN files f ON f.version_id = v.id WHERE r.outcome IN (?, ?) ORDER BY d.name, r.revision",
        (LIVE, RETIRED),
    )
    kept: dict[str, str] = {}
    for r in rows:
        role = "serves" if r["outcome"] == LIVE else "can roll back to"
        why = f"{r['name']} {role} {r['model']}:{r['version']} (revision {r['revision']})"
        kept.setdefault(r["digest"], why)
    return kept
