"""Creating a version: its model row, files, datasets, tags and aliases, and its audit event,
in one transaction (the registry's first section; registry.py re-exports it)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.domain import (
    DatasetRecord,
    GitInfo,
    Manifest,
    ModelRef,
    ModelVersion,
    Provenance,
)
from mlops_cli.errors import StoreError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, utc_now
from mlops_cli.store.registry_lookup import get_version


@dataclass(frozen=True)
class VersionDraft:
    """What a new version is made of, before it has a number."""

    name: str
    manifest: Manifest
    framework: str
    source_path: str | None
    description: str | None = None
    signature: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    alias: str | None = None
    datasets: tuple[DatasetRecord, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    git: GitInfo | None = None
    action: str = "register"  # the audit action: "convert" for a version derived by conversion


def _blob_rows(draft: VersionDraft) -> set[tuple[str, int]]:
    rows = {(f.digest, f.size) for f in draft.manifest.files}
    rows |= {(d.digest, d.size) for d in draft.datasets}
    return rows


def create_version(
    conn: sqlite3.Connection,
    draft: VersionDraft,
    provenance: Provenance,
    blob_exists,
    write_record: Callable[[str, dict[str, Any]], None] | None = None,
) -> ModelVersion:
    """Give `draft` the next version number of its model and record it, with its event.

    The number is taken under BEGIN IMMEDIATE, so concurrent writers get distinct, gapless
    numbers. `blob_exists(digest, size)` is checked under the same lock, so a concurrent
    garbage collection cannot remove a blob this version is about to reference.
    `write_record(ref, state)`, under the same lock, keeps a copy of the version outside the
    database (see `store/records.py`) for `mlops audit recover`.
    """
    now = utc_now()
    recorded: list[str] = []
    try:
        return _create_version(conn, draft, provenance, blob_exists, write_record, now, recorded)
    except BaseException:
        for ref in recorded:  # the transaction rolled back: so does the copy outside it
            write_record(ref, None)
        raise


def _create_version(conn, draft, provenance, blob_exists, write_record, now, recorded) -> ModelVersion:
    with transaction(conn):
        for digest, size in _blob_rows(draft):
            if not blob_exists(digest, size):
                raise StoreError(f"blob {digest} vanished while registering; try again")
            conn.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, size))
        row = conn.execute("SELECT last_version FROM models WHERE name = ?", (draft.name,)).fetchone()
        number = row["last_version"] + 1 if row else 1
        ref = f"{draft.name}:{number}"
        state = {
            "name": draft.name,
            "version": number,
            "digest": draft.manifest.digest,
            "framework": draft.framework,
            "size": draft.manifest.size,
            "created_at": now,
            "created_by": provenance.actor,
            "host": provenance.host,
            "source_path": draft.source_path,
            "description": draft.description,
            "message": provenance.message,
            "git": asdict(draft.git) if draft.git else None,
            "signature": draft.signature,
            "metadata": draft.metadata,
            "tags": draft.tags,
            "alias": draft.alias,
            "datasets": [asdict(d) for d in draft.datasets],
            "files": [[f.path, f.size, f.mode, f.digest] for f in draft.manifest.files],
        }
        insert_version(conn, state, now)
        if write_record is not None:
            recorded.append(ref)
            write_record(ref, state)
        append_event(
            conn,
            draft.action,
            ref,
            provenance,
            {
                "digest": draft.manifest.digest,
                "framework": draft.framework,
                "size": draft.manifest.size,
                "files": len(draft.manifest.files),
                "source_path": draft.source_path,
                "tags": draft.tags,
                "alias": draft.alias,
                "datasets": [asdict(d) for d in draft.datasets],
                "source_git": asdict(draft.git) if draft.git else None,
                **(
                    {"derived_from": draft.metadata["derived_from"]}
                    if "derived_from" in draft.metadata
                    else {}
                ),
                # The whole version as created, so replay can rebuild it (audit/replay.py).
                "state": {"version": {k: v for k, v in state.items() if k != "files"}},
            },
        )
    return get_version(conn, ModelRef(draft.name, version=number))


def insert_version(conn: sqlite3.Connection, state: dict[str, Any], now: str) -> int:
    """Insert the rows of one version as `state` describes it (the register event's state and its
    `files`), creating its model if needed; return the version's row id.

    The model's last number becomes at least this version's: a pulled version keeps the number
    the remote gave it. Runs inside the caller's transaction.
    """
    name, number = state["name"], state["version"]
    row = conn.execute("SELECT id FROM models WHERE name = ?", (name,)).fetchone()
    if row is None:
        model_id = conn.execute(
            "INSERT INTO models (name, description, created_at, updated_at) VALUES (?,?,?,?)",
            (name, state["description"], now, now),
        ).lastrowid
    else:
        model_id = row["id"]
    conn.execute(
        "UPDATE models SET last_version = MAX(last_version, ?), updated_at = ?,"
        " description = COALESCE(?, description) WHERE id = ?",
        (number, now, state["description"], model_id),
    )
    version_id = conn.execute(
        "INSERT INTO versions (model_id, version, digest, framework, size, created_at,"
        " created_by, host, source_path, description, message, git, signature, metadata)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            model_id,
            number,
            state["digest"],
            state["framework"],
            state["size"],
            state["created_at"],
            state["created_by"],
            state["host"],
            state["source_path"],
            state["description"],
            state["message"],
            json.dumps(state["git"]) if state["git"] else None,
            json.dumps(state["signature"]) if state["signature"] is not None else None,
            json.dumps(state["metadata"], sort_keys=True),
        ),
    ).lastrowid
    conn.executemany(
        "INSERT INTO files (version_id, path, size, mode, digest) VALUES (?,?,?,?,?)",
        [(version_id, path, size, mode, digest) for path, size, mode, digest in state["files"]],
    )
    conn.executemany(
        "INSERT INTO datasets (version_id, path, role, size, digest) VALUES (?,?,?,?,?)",
        [(version_id, d["path"], d["role"], d["size"], d["digest"]) for d in state["datasets"]],
    )
    conn.executemany(
        "INSERT INTO tags (version_id, key, value) VALUES (?,?,?)",
        [(version_id, k, v) for k, v in state["tags"].items()],
    )
    if state.get("alias"):
        point_alias(conn, model_id, state["alias"], version_id)
    return version_id


def point_alias(conn: sqlite3.Connection, model_id: int, alias: str, version_id: int) -> int | None:
    """Point `alias` at a version; return the version number it pointed to before, if any."""
    before = conn.execute(
        "SELECT v.version FROM aliases a JOIN versions v ON v.id = a.version_id"
        " WHERE a.model_id = ? AND a.alias = ?",
        (model_id, alias),
    ).fetchone()
    conn.execute(
        "INSERT INTO aliases (model_id, alias, version_id) VALUES (?,?,?)"
        " ON CONFLICT (model_id, alias) DO UPDATE SET version_id = excluded.version_id",
        (model_id, alias, version_id),
    )
    return before["version"] if before else None
