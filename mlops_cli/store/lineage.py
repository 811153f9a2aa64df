"""The queries lineage needs: versions derived from a version, and what used a version.

A version is named in other records by its ref (`NAME:N`) or its manifest digest; both are
matched, the ref as a quoted JSON string so `m:3` never matches `m:30`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from mlops_cli.domain import Job
from mlops_cli.store.events import event_from_row
from mlops_cli.store.jobs import _job_from_row


def derived_versions(conn: sqlite3.Connection, ref: str, digest: str) -> list[str]:
    """Refs of versions whose metadata says they were derived (converted) from this one."""
    rows = conn.execute(
        "SELECT m.name || ':' || v.version FROM versions v JOIN models m ON m.id = v.model_id"
        " WHERE json_extract(v.metadata, '$.derived_from.ref') = ?"
        " OR json_extract(v.metadata, '$.derived_from.digest') = ? ORDER BY v.id",
        (ref, digest),
    )
    return [r[0] for r in rows]


def jobs_of(conn: sqlite3.Connection, ref: str, digest: str) -> list[Job]:
    rows = conn.execute(
        "SELECT * FROM jobs WHERE model_ref = ? OR model_digest = ? ORDER BY created_at", (ref, digest)
    )
    return [_job_from_row(r) for r in rows]


def _mentions(text: str, ref: str, digest: str) -> bool:
    return f'"{ref}"' in text or digest in text


def events_about(conn: sqlite3.Connection, patterns: tuple[str, ...], ref: str, digest: str) -> list[Any]:
    """Events whose action matches one of the GLOB `patterns` and that name this version."""
    where = " OR ".join("action GLOB ?" for _ in patterns)
    rows = conn.execute(
        f"SELECT * FROM events WHERE ({where}) AND (subject = ? OR details LIKE ? OR details LIKE ?)"
        " ORDER BY seq",
        (*patterns, ref, f'%"{ref}"%', f"%{digest}%"),
    )
    return [event_from_row(r) for r in rows]
