"""Models, versions, files, tags and aliases: all the registry's SQL.

Every write is one transaction that also appends its audit event. Reads return dataclasses.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.domain import (
    Artifact,
    DatasetRecord,
    FileEntry,
    GitInfo,
    Manifest,
    ModelRef,
    ModelSummary,
    ModelVersion,
    Provenance,
)
from mlops_cli.errors import NotFoundError, StoreError, UsageError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, utc_now


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
        _point_alias(conn, model_id, state["alias"], version_id)
    return version_id


def _point_alias(conn: sqlite3.Connection, model_id: int, alias: str, version_id: int) -> int | None:
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


def _near_names(conn: sqlite3.Connection, name: str) -> list[str]:
    """Names close to `name` that can be used: other models that still have a version."""
    names = [
        r["name"]
        for r in conn.execute(
            "SELECT name FROM models m WHERE name != ?"
            " AND EXISTS (SELECT 1 FROM versions v WHERE v.model_id = m.id)",
            (name,),
        )
    ]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.6)


def _resolve_id(conn: sqlite3.Connection, ref: ModelRef) -> tuple[int, int]:
    """Return (model_id, version_id) for a reference, or raise NotFoundError with hints."""
    model = conn.execute("SELECT id FROM models WHERE name = ?", (ref.name,)).fetchone()
    if (
        model is None
        or not conn.execute("SELECT 1 FROM versions WHERE model_id = ? LIMIT 1", (model["id"],)).fetchone()
    ):
        near = _near_names(conn, ref.name)
        hint = f"did you mean {', '.join(near)}?" if near else "see `mlops models list`"
        if model is not None:
            last = conn.execute("SELECT last_version FROM models WHERE id = ?", (model["id"],)).fetchone()[0]
            raise NotFoundError(
                f"model {ref.name!r} has no versions left: every version up to {ref.name}:{last} was removed",
                hint=f"`mlops audit log --model {ref.name}` shows when; {hint}",
            )
        raise NotFoundError(f"no model named {ref.name!r}", hint=hint)
    model_id = model["id"]
    if ref.alias:
        row = conn.execute(
            "SELECT version_id FROM aliases WHERE model_id = ? AND alias = ?", (model_id, ref.alias)
        ).fetchone()
        if row is None:
            known = [
                r["alias"] for r in conn.execute("SELECT alias FROM aliases WHERE model_id = ?", (model_id,))
            ]
            hint = (
                f"aliases of {ref.name}: {', '.join(sorted(known))}"
                if known
                else f"{ref.name} has no aliases"
            )
            raise NotFoundError(f"no alias {ref.alias!r} on model {ref.name!r}", hint=hint)
        return model_id, row["version_id"]
    if ref.version is not None:
        row = conn.execute(
            "SELECT id FROM versions WHERE model_id = ? AND version = ?", (model_id, ref.version)
        ).fetchone()
        if row is None:
            numbers = [
                r["version"]
                for r in conn.execute(
                    "SELECT version FROM versions WHERE model_id = ? ORDER BY version", (model_id,)
                )
            ]
            raise NotFoundError(
                f"model {ref.name!r} has no version {ref.version}",
                hint=f"versions: {_ranges(numbers)}",
            )
        return model_id, row["id"]
    row = conn.execute(
        "SELECT id FROM versions WHERE model_id = ? ORDER BY version DESC LIMIT 1", (model_id,)
    ).fetchone()
    return model_id, row["id"]


def _ranges(numbers: list[int]) -> str:
    """[1,2,3,5] -> '1-3, 5'."""
    parts: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(parts)


def get_version(conn: sqlite3.Connection, ref: ModelRef) -> ModelVersion:
    """The full record of the version `ref` points to; NotFoundError if none."""
    _, version_id = _resolve_id(conn, ref)
    return _load_version(conn, version_id)


def artifact_from_row(row: sqlite3.Row) -> Artifact:
    return Artifact(row["kind"], row["ref"], row["digest"], row["created_at"], json.loads(row["details"]))


def _load_version(conn: sqlite3.Connection, version_id: int) -> ModelVersion:
    row = conn.execute(
        "SELECT v.*, m.name FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = ?",
        (version_id,),
    ).fetchone()
    files = tuple(
        FileEntry(r["path"], r["size"], r["mode"], r["digest"])
        for r in conn.execute("SELECT * FROM files WHERE version_id = ? ORDER BY path", (version_id,))
    )
    datasets = tuple(
        DatasetRecord(r["path"], r["digest"], r["size"], r["role"])
        for r in conn.execute("SELECT * FROM datasets WHERE version_id = ? ORDER BY path", (version_id,))
    )
    tags = {
        r["key"]: r["value"]
        for r in conn.execute("SELECT key, value FROM tags WHERE version_id = ? ORDER BY key", (version_id,))
    }
    aliases = tuple(
        r["alias"]
        for r in conn.execute("SELECT alias FROM aliases WHERE version_id = ? ORDER BY alias", (version_id,))
    )
    artifacts = tuple(
        artifact_from_row(r)
        for r in conn.execute("SELECT * FROM artifacts WHERE version_id = ? ORDER BY id", (version_id,))
    )
    git = json.loads(row["git"]) if row["git"] else None
    return ModelVersion(
        name=row["name"],
        version=row["version"],
        digest=row["digest"],
        framework=row["framework"],
        size=row["size"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        host=row["host"],
        source_path=row["source_path"],
        description=row["description"],
        message=row["message"],
        git=GitInfo(**git) if git else None,
        signature=json.loads(row["signature"]) if row["signature"] else None,
        files=files,
        tags=tags,
        aliases=aliases,
        datasets=datasets,
        metadata=json.loads(row["metadata"]),
        artifacts=artifacts,
    )


def list_versions(conn: sqlite3.Connection, name: str) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    model_id, _ = _resolve_id(conn, ModelRef(name))
    ids = [
        r["id"]
        for r in conn.execute("SELECT id FROM versions WHERE model_id = ? ORDER BY version", (model_id,))
    ]
    return [_load_version(conn, i) for i in ids]


def list_models(conn: sqlite3.Connection) -> list[ModelSummary]:
    """One summary per model that has at least one version, by name. One query: fast at 10k+."""
    rows = conn.execute(
        """
        SELECT m.name, m.description, m.updated_at,
               MAX(v.version) AS latest, COUNT(v.id) AS versions
        FROM models m JOIN versions v ON v.model_id = m.id
        GROUP BY m.id ORDER BY m.name
        """
    ).fetchall()
    aliases: dict[str, dict[str, int]] = {}
    for r in conn.execute(
        "SELECT m.name, a.alias, v.version FROM aliases a JOIN models m ON m.id = a.model_id"
        " JOIN versions v ON v.id = a.version_id ORDER BY a.alias"
    ):
        aliases.setdefault(r["name"], {})[r["alias"]] = r["version"]
    return [
        ModelSummary(
            name=r["name"],
            latest_version=r["latest"],
            versions=r["versions"],
            aliases=aliases.get(r["name"], {}),
            updated_at=r["updated_at"],
            description=r["description"],
        )
        for r in rows
    ]


def set_tags(
    conn: sqlite3.Connection, ref: ModelRef, tags: dict[str, str], provenance: Provenance
) -> ModelVersion:
    with transaction(conn):
        _, version_id = _resolve_id(conn, ref)
        version = _load_version(conn, version_id)
        conn.executemany(
            "INSERT INTO tags (version_id, key, value) VALUES (?,?,?)"
            " ON CONFLICT (version_id, key) DO UPDATE SET value = excluded.value",
            [(version_id, k, v) for k, v in tags.items()],
        )
        previous = {k: version.tags[k] for k in tags if k in version.tags}
        after = {**version.tags, **tags}
        append_event(
            conn,
            "tag",
            version.ref,
            provenance,
            {"set": tags, "previous": previous, "state": {"tags": dict(sorted(after.items()))}},
        )
    return _load_version(conn, version_id)


def remove_tags(
    conn: sqlite3.Connection, ref: ModelRef, keys: list[str], provenance: Provenance
) -> ModelVersion:
    with transaction(conn):
        _, version_id = _resolve_id(conn, ref)
        version = _load_version(conn, version_id)
        missing = [k for k in keys if k not in version.tags]
        if missing:
            raise NotFoundError(f"{version.ref} has no tag {missing[0]!r}")
        conn.executemany("DELETE FROM tags WHERE version_id = ? AND key = ?", [(version_id, k) for k in keys])
        after = {k: v for k, v in version.tags.items() if k not in keys}
        append_event(
            conn,
            "untag",
            version.ref,
            provenance,
            {"removed": {k: version.tags[k] for k in keys}, "state": {"tags": after}},
        )
    return _load_version(conn, version_id)


def set_alias(
    conn: sqlite3.Connection, ref: ModelRef, alias: str, provenance: Provenance
) -> tuple[ModelVersion, int | None]:
    """Point `alias` at the version `ref` names; return it and the version it left, if any."""
    with transaction(conn):
        model_id, version_id = _resolve_id(conn, ref)
        before = _point_alias(conn, model_id, alias, version_id)
        version = _load_version(conn, version_id)
        append_event(
            conn,
            "alias",
            f"{version.name}@{alias}",
            provenance,
            {
                "version": version.version,
                "previous_version": before,
                "state": {"alias": {"model": version.name, "alias": alias, "version": version.version}},
            },
        )
    return version, before


def remove_alias(conn: sqlite3.Connection, name: str, alias: str, provenance: Provenance) -> int:
    """Remove an alias; return the version number it pointed to."""
    with transaction(conn):
        model_id, version_id = _resolve_id(conn, ModelRef(name, alias=alias))
        version = _load_version(conn, version_id)
        conn.execute("DELETE FROM aliases WHERE model_id = ? AND alias = ?", (model_id, alias))
        append_event(
            conn,
            "unalias",
            f"{name}@{alias}",
            provenance,
            {
                "version": version.version,
                "state": {"alias": {"model": name, "alias": alias, "version": None}},
            },
        )
    return version.version


def delete_version(
    conn: sqlite3.Connection, ref: ModelRef, provenance: Provenance, trash_blobs
) -> tuple[ModelVersion, list[str]]:
    """Delete a version's record and the blobs nothing else references; return both.

    `trash_blobs(digests)` moves the blob files aside under the write lock and returns a
    function that restores them; the caller empties the trash once this returns.
    """
    if ref.is_latest:
        raise UsageError(
            f"refusing to delete {ref.name!r} without a version",
            hint=f"name the version: {ref.name}:N or {ref.name}@ALIAS",
        )
    restore = None
    try:
        with transaction(conn):
            _, version_id = _resolve_id(conn, ref)
            version = _load_version(conn, version_id)
            conn.execute("DELETE FROM aliases WHERE version_id = ?", (version_id,))
            conn.execute("DELETE FROM versions WHERE id = ?", (version_id,))
            orphans = [
                r["digest"]
                for r in conn.execute(
                    "SELECT digest FROM blobs b"
                    " WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.digest = b.digest)"
                    " AND NOT EXISTS (SELECT 1 FROM datasets d WHERE d.digest = b.digest)"
                    # baselines and profiles of other versions are blobs too
                    " AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.digest = b.digest)"
                )
            ]
            conn.executemany("DELETE FROM blobs WHERE digest = ?", [(d,) for d in orphans])
            append_event(
                conn,
                "rm",
                version.ref,
                provenance,
                {
                    "digest": version.digest,
                    "aliases": list(version.aliases),
                    "blobs_removed": len(orphans),
                    "state": {"removed": version.ref},
                },
            )
            # Moved aside under the write lock, so no concurrent register can adopt them.
            restore = trash_blobs(orphans)
    except BaseException:
        if restore is not None:
            restore()
        raise
    return version, orphans


def all_blobs(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return [(r["digest"], r["size"]) for r in conn.execute("SELECT digest, size FROM blobs ORDER BY digest")]


def blob_size_known(conn: sqlite3.Connection, size: int) -> bool:
    return conn.execute("SELECT 1 FROM blobs WHERE size = ? LIMIT 1", (size,)).fetchone() is not None


def remove_unreferenced_blobs(conn: sqlite3.Connection, digests: list[str], remove) -> None:
    """Call `remove(digest)` for each digest no version references, under the write lock."""
    with transaction(conn):
        for digest in digests:
            if not conn.execute("SELECT 1 FROM blobs WHERE digest = ?", (digest,)).fetchone():
                remove(digest)


def remove_unnamed_documents(conn: sqlite3.Connection, digests: list[str], remove) -> None:
    """Call `remove(digest)` for each digest no version's metadata and no job names (an
    environment snapshot), under the write lock."""
    with transaction(conn):
        for digest in digests:
            pattern = f"%{digest}%"
            named = conn.execute(
                "SELECT 1 FROM versions WHERE metadata LIKE ?"
                " UNION ALL SELECT 1 FROM jobs WHERE details LIKE ? LIMIT 1",
                (pattern, pattern),
            ).fetchone()
            if not named:
                remove(digest)
