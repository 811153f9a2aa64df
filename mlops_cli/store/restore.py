"""Writing a recovered registry into a new, empty store, with its trail.

The new store's trail starts with the old store's surviving events, verbatim (they still chain
from the genesis hash), followed by one `recover` event whose state is the whole recovered
registry, so `audit verify` on the new store replays to exactly its tables.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from typing import Any

from mlops_cli.domain import AuditEvent, Provenance
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, utc_now
from mlops_cli.store.migrations import SCHEMA_VERSION


def copy_events(conn: sqlite3.Connection, events: list[AuditEvent]) -> None:
    """Insert surviving events as they were (same seq, hashes): the chain stays verifiable."""
    conn.executemany(
        "INSERT INTO events (seq, ts, action, subject, actor, host, message, git, details,"
        " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                e.seq,
                e.ts,
                e.action,
                e.subject,
                e.actor,
                e.host,
                e.message,
                json.dumps(asdict(e.git)) if e.git else None,
                json.dumps(e.details, sort_keys=True),
                e.prev_hash,
                e.hash,
            )
            for e in events
        ],
    )


def write_registry(
    conn: sqlite3.Connection,
    events: list[AuditEvent],
    registry: dict[str, Any],
    details: dict[str, Any],
    provenance: Provenance,
    root: str,
) -> None:
    """One transaction: the old events, the registry rows, and the `recover` event.

    `registry` is the recovered state as `audit/recover.py` builds it: `models` (name ->
    description, last_version), `versions` (full records with files), `aliases`, `artifacts`.
    """
    now = utc_now()
    with transaction(conn):
        copy_events(conn, events)
        if not events:
            append_event(conn, "init", root, provenance, {"schema_version": SCHEMA_VERSION})
        model_ids: dict[str, int] = {}
        for name, model in sorted(registry["models"].items()):
            model_ids[name] = conn.execute(
                "INSERT INTO models (name, description, last_version, created_at, updated_at)"
                " VALUES (?,?,?,?,?)",
                (name, model["description"], model["last_version"], now, now),
            ).lastrowid
        version_ids: dict[str, int] = {}
        for ref, v in sorted(registry["versions"].items()):
            for _, size, _, digest in v["files"]:
                conn.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, size))
            for d in v["datasets"]:
                conn.execute(
                    "INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (d["digest"], d["size"])
                )
            version_ids[ref] = conn.execute(
                "INSERT INTO versions (model_id, version, digest, framework, size, created_at, created_by,"
                " host, source_path, description, message, git, signature, metadata)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    model_ids[v["name"]],
                    v["version"],
                    v["digest"],
                    v["framework"],
                    v["size"],
                    v["created_at"],
                    v["created_by"],
                    v["host"],
                    v["source_path"],
                    v["description"],
                    v["message"],
                    json.dumps(v["git"]) if v["git"] else None,
                    json.dumps(v["signature"]) if v["signature"] is not None else None,
                    json.dumps(v["metadata"] or {}, sort_keys=True),
                ),
            ).lastrowid
            conn.executemany(
                "INSERT INTO files (version_id, path, size, mode, digest) VALUES (?,?,?,?,?)",
                [(version_ids[ref], *f) for f in v["files"]],
            )
            conn.executemany(
                "INSERT INTO datasets (version_id, path, role, size, digest) VALUES (?,?,?,?,?)",
                [(version_ids[ref], d["path"], d["role"], d["size"], d["digest"]) for d in v["datasets"]],
            )
            conn.executemany(
                "INSERT INTO tags (version_id, key, value) VALUES (?,?,?)",
                [(version_ids[ref], k, val) for k, val in v["tags"].items()],
            )
        for name, alias, number in registry["aliases"]:
            conn.execute(
                "INSERT INTO aliases (model_id, alias, version_id) VALUES (?,?,?)",
                (model_ids[name], alias, version_ids[f"{name}:{number}"]),
            )
        for kind, owner, ref, digest in registry["artifacts"]:
            conn.execute(
                "INSERT INTO artifacts (version_id, kind, ref, digest, details, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (version_ids[owner], kind, ref, digest, "{}", now),
            )
        append_event(conn, "recover", root, provenance, {**details, "state": {"registry": registry}})
