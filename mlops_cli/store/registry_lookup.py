"""Finding and reading versions: references resolved (with near names when they miss), rows
turned into dataclasses (the registry's reading section; registry.py re-exports it)."""

from __future__ import annotations

import difflib
import json
import sqlite3

from mlops_cli.domain import (
    Artifact,
    DatasetRecord,
    FileEntry,
    GitInfo,
    ModelRef,
    ModelSummary,
    ModelVersion,
)
from mlops_cli.errors import NotFoundError


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


def resolve_id(conn: sqlite3.Connection, ref: ModelRef) -> tuple[int, int]:
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
    _, version_id = resolve_id(conn, ref)
    return load_version(conn, version_id)


def artifact_from_row(row: sqlite3.Row) -> Artifact:
    return Artifact(row["kind"], row["ref"], row["digest"], row["created_at"], json.loads(row["details"]))


def load_version(conn: sqlite3.Connection, version_id: int) -> ModelVersion:
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
    model_id, _ = resolve_id(conn, ModelRef(name))
    ids = [
        r["id"]
        for r in conn.execute("SELECT id FROM versions WHERE model_id = ? ORDER BY version", (model_id,))
    ]
    return [load_version(conn, i) for i in ids]


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
