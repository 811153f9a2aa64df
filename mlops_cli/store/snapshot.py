"""The registry as plain data, read from the tables in a few bulk queries.

`audit/replay.py` builds the same shape from the audit trail; `audit verify` compares the two.
Kept flat and comparable (dicts of plain values) so a difference can be named precisely.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.domain import FileEntry, Manifest

# The columns of a version replay can rebuild, in the order differences are reported.
VERSION_FIELDS = (
    "digest",
    "framework",
    "size",
    "created_at",
    "created_by",
    "host",
    "source_path",
    "description",
    "message",
    "git",
    "signature",
    "metadata",
)


@dataclass
class VersionState:
    """One version: its fields (only those known), tags, datasets and, from the tables, the
    digest its file rows hash to."""

    ref: str
    fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] | None = None
    datasets: list[dict[str, Any]] | None = None
    files_digest: str | None = None  # tables only: Manifest(file rows).digest
    files: list[tuple[str, int, int, str]] | None = None


@dataclass
class RegistryState:
    """Models, versions, tags, aliases, artifacts and jobs, keyed for comparison."""

    versions: dict[str, VersionState] = field(default_factory=dict)  # "name:N" -> version
    last_version: dict[str, int] = field(default_factory=dict)  # model -> highest number ever
    descriptions: dict[str, str | None] = field(default_factory=dict)  # model -> description
    aliases: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, alias) -> N
    artifacts: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)  # kind -> rows
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> kind, status, model...
    blobs: dict[str, int] = field(default_factory=dict)  # digest -> size (tables only)


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def read_tables(conn: sqlite3.Connection) -> RegistryState:
    """The registry tables as a RegistryState; a handful of queries whatever the store's size."""
    state = RegistryState()
    by_id: dict[int, VersionState] = {}
    for r in conn.execute("SELECT id, name, description, last_version FROM models"):
        state.last_version[r["name"]] = r["last_version"]
        state.descriptions[r["name"]] = r["description"]
    for r in conn.execute("SELECT v.*, m.name FROM versions v JOIN models m ON m.id = v.model_id"):
        version = VersionState(f"{r['name']}:{r['version']}", tags={}, datasets=[], files=[])
        version.fields = {
            "digest": r["digest"],
            "framework": r["framework"],
            "size": r["size"],
            "created_at": r["created_at"],
            "created_by": r["created_by"],
            "host": r["host"],
            "source_path": r["source_path"],
            "description": r["description"],
            "message": r["message"],
            "git": _json(r["git"]),
            "signature": _json(r["signature"]),
            "metadata": _json(r["metadata"]) or {},
        }
        by_id[r["id"]] = version
        state.versions[version.ref] = version
    for r in conn.execute("SELECT version_id, path, size, mode, digest FROM files"):
        if r["version_id"] in by_id:
            by_id[r["version_id"]].files.append((r["path"], r["size"], r["mode"], r["digest"]))
    for version in state.versions.values():
        version.files.sort()
        version.files_digest = Manifest(tuple(FileEntry(*f) for f in version.files)).digest
    for r in conn.execute("SELECT version_id, path, role, size, digest FROM datasets ORDER BY path"):
        if r["version_id"] in by_id:
            by_id[r["version_id"]].datasets.append(
                {"path": r["path"], "digest": r["digest"], "size": r["size"], "role": r["role"]}
            )
    for r in conn.execute("SELECT version_id, key, value FROM tags"):
        if r["version_id"] in by_id:
            by_id[r["version_id"]].tags[r["key"]] = r["value"]
    for r in conn.execute(
        "SELECT m.name, a.alias, v.version FROM aliases a JOIN models m ON m.id = a.model_id"
        " JOIN versions v ON v.id = a.version_id"
    ):
        state.aliases[(r["name"], r["alias"])] = r["version"]
    for r in conn.execute("SELECT version_id, kind, ref, digest FROM artifacts ORDER BY id"):
        owner = by_id.get(r["version_id"])
        state.artifacts.setdefault(r["kind"], []).append((owner.ref if owner else "?", r["ref"], r["digest"]))
    for r in conn.execute("SELECT id, kind, status, model_ref, model_digest FROM jobs"):
        state.jobs[r["id"]] = {
            "kind": r["kind"],
            "status": r["status"],
            "model_ref": r["model_ref"],
            "model_digest": r["model_digest"],
        }
    state.blobs = {r["digest"]: r["size"] for r in conn.execute("SELECT digest, size FROM blobs")}
    return state
