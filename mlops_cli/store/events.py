"""Appending to the hash-chained audit log, inside the caller's write transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from mlops_cli.domain import GENESIS_HASH, AuditEvent, GitInfo, Provenance, chain_hash


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Called as sink(conn, event) inside the event's transaction; the events package installs the one
# that writes hook deliveries to the outbox (events/routing.py), so the store never imports it.
EVENT_SINKS: list[Callable[[sqlite3.Connection, AuditEvent], None]] = []


def append_event(
    conn: sqlite3.Connection,
    action: str,
    subject: str,
    provenance: Provenance,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event; must run inside `transaction()` so it commits with the change.

    `details` should carry the full state the change set (see `audit/replay.py`): replay
    rebuilds the registry from it and `audit verify` compares the result with the tables.
    """
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq = (last["seq"] + 1) if last else 1
    prev_hash = last["hash"] if last else GENESIS_HASH
    draft = AuditEvent(
        seq=seq,
        ts=utc_now(),
        action=action,
        subject=subject,
        actor=provenance.actor,
        host=provenance.host,
        message=provenance.message,
        git=provenance.git,
        details=details or {},
        prev_hash=prev_hash,
        hash="",
    )
    digest = chain_hash(prev_hash, draft.chained_fields())
    conn.execute(
        "INSERT INTO events (seq, ts, action, subject, actor, host, message, git, details,"
        " prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            seq,
            draft.ts,
            action,
            subject,
            draft.actor,
            draft.host,
            draft.message,
            json.dumps(asdict(draft.git)) if draft.git else None,
            json.dumps(draft.details, sort_keys=True),
            prev_hash,
            digest,
        ),
    )
    if hasattr(conn, "events_appended"):
        conn.events_appended = True  # transaction() moves the head file after COMMIT
    event = AuditEvent(**{**asdict(draft), "git": draft.git, "hash": digest})
    for sink in EVENT_SINKS:
        sink(conn, event)
    return event


def event_from_row(row: sqlite3.Row) -> AuditEvent:
    git = json.loads(row["git"]) if row["git"] else None
    return AuditEvent(
        seq=row["seq"],
        ts=row["ts"],
        action=row["action"],
        subject=row["subject"],
        actor=row["actor"],
        host=row["host"],
        message=row["message"],
        git=GitInfo(**git) if git else None,
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def query_events(
    conn: sqlite3.Connection,
    *,
    model: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events newest first, filtered by model name, action and UTC start time."""
    clauses, params = [], []
    if model:
        # Jobs have their own id as subject and name the model they used in their details.
        clauses.append(
            "(subject = ? OR subject GLOB ? OR subject GLOB ? OR json_extract(details, '$.model') GLOB ?)"
        )
        params += [model, f"{model}:*", f"{model}@*", f"{model}:*"]
    if action:
        clauses.append("action = ?")
        params.append(action)
    if since:
        clauses.append("ts >= ?")
        params.append(since)
    sql = "SELECT * FROM events"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY seq DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [event_from_row(r) for r in conn.execute(sql, params)]


def iter_chain(conn: sqlite3.Connection):
    """Every event in chain order, for verification."""
    for row in conn.execute("SELECT * FROM events ORDER BY seq"):
        yield event_from_row(row)
