"""Models, versions, files, tags and aliases: all the registry's SQL.

Every write is one transaction that also appends its audit event. Reads return dataclasses.
Creating a version is in registry_create.py, finding and reading versions in
registry_lookup.py; both are re-exported here, so `registry.X` is the one way in.
"""

from __future__ import annotations

import sqlite3

from mlops_cli.domain import (
    ModelRef,
    ModelVersion,
    Provenance,
)
from mlops_cli.errors import NotFoundError, UsageError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event
from mlops_cli.store.registry_create import VersionDraft, create_version, insert_version, point_alias
from mlops_cli.store.registry_lookup import (
    artifact_from_row,
    get_version,
    list_models,
    list_versions,
    load_version,
    resolve_id,
)

__all__ = [
    "VersionDraft",
    "all_blobs",
    "artifact_from_row",
    "blob_size_known",
    "create_version",
    "delete_version",
    "get_version",
    "insert_version",
    "list_models",
    "list_versions",
    "remove_alias",
    "remove_tags",
    "remove_unnamed_documents",
    "remove_unreferenced_blobs",
    "resolve_id",
    "set_alias",
    "set_tags",
]


def set_tags(
    conn: sqlite3.Connection, ref: ModelRef, tags: dict[str, str], provenance: Provenance
) -> ModelVersion:
    with transaction(conn):
        _, version_id = resolve_id(conn, ref)
        version = load_version(conn, version_id)
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
    return load_version(conn, version_id)


def remove_tags(
    conn: sqlite3.Connection, ref: ModelRef, keys: list[str], provenance: Provenance
) -> ModelVersion:
    with transaction(conn):
        _, version_id = resolve_id(conn, ref)
        version = load_version(conn, version_id)
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
    return load_version(conn, version_id)


def set_alias(
    conn: sqlite3.Connection, ref: ModelRef, alias: str, provenance: Provenance
) -> tuple[ModelVersion, int | None]:
    """Point `alias` at the version `ref` names; return it and the version it left, if any."""
    with transaction(conn):
        model_id, version_id = resolve_id(conn, ref)
        before = point_alias(conn, model_id, alias, version_id)
        version = load_version(conn, version_id)
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
        model_id, version_id = resolve_id(conn, ModelRef(name, alias=alias))
        version = load_version(conn, version_id)
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
            _, version_id = resolve_id(conn, ref)
            version = load_version(conn, version_id)
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
