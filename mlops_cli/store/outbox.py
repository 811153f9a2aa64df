"""The outbox: hook deliveries written in the same transaction as their audit event.

A row is `pending` until a deliverer claims it (`sending`, with its pid and the process's
start time), then `delivered` or `failed`. A claim whose process died (kill -9 between claim
and result), or whose pid now belongs to another process, goes back to pending, so an event is
never lost and never needs the command that emitted it to still be running.

Webhook URLs are stored redacted (`redaction.py`): a password or token in a URL never reaches
the database; the deliverer reads the real URL from config.yaml when it sends.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from typing import Any

from mlops_cli.domain import Delivery
from mlops_cli.pids import pid_alive, process_start
from mlops_cli.redaction import redact_url
from mlops_cli.store.db import transaction
from mlops_cli.store.events import utc_now

STATUSES = ("pending", "sending", "delivered", "failed")


def enqueue(conn: sqlite3.Connection, event_seq: int, event: str, hooks: list[dict[str, Any]]) -> int:
    """Insert one pending delivery per hook; the caller's transaction commits it with the event."""
    now = utc_now()
    hooks = [_redacted(hook) for hook in hooks]
    conn.executemany(
        "INSERT INTO outbox (delivery_id, event_seq, event, hook, kind, target, status,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,'pending',?,?)",
        [
            (
                str(uuid.uuid4()),
                event_seq,
                event,
                json.dumps(hook, sort_keys=True),
                hook["kind"],
                hook["target"],
                now,
                now,
            )
            for hook in hooks
        ],
    )
    return len(hooks)


def _redacted(hook: dict[str, Any]) -> dict[str, Any]:
    if hook.get("kind") != "webhook":
        return hook
    return {**hook, "target": redact_url(hook["target"])}


def _from_row(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        delivery_id=row["delivery_id"],
        event_seq=row["event_seq"],
        event=row["event"],
        kind=row["kind"],
        target=row["target"],
        status=row["status"],
        attempts=row["attempts"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
        hook=json.loads(row["hook"]),
    )


def claim(
    conn: sqlite3.Connection,
    *,
    statuses: tuple[str, ...] = ("pending",),
    ids: list[int] | None = None,
    limit: int = 1000,
) -> list[Delivery]:
    """Take deliveries for this process (status `sending`); stale claims go back first.

    Two deliverers never send the same row: the claim is made under the write lock.
    """
    pid, start = os.getpid(), process_start()
    with transaction(conn):
        release_stale_claims(conn)
        if ids:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT * FROM outbox WHERE id IN ({marks}) AND status != 'sending' ORDER BY id", ids
            ).fetchall()
        else:
            marks = ",".join("?" * len(statuses))
            rows = conn.execute(
                f"SELECT * FROM outbox WHERE status IN ({marks}) ORDER BY id LIMIT ?", (*statuses, limit)
            ).fetchall()
        conn.executemany(
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_start = ?, updated_at = ?"
            " WHERE id = ?",
            [(pid, start, utc_now(), r["id"]) for r in rows],
        )
    return [_from_row(r) for r in rows]


def release_stale_claims(conn: sqlite3.Connection) -> int:
    """Put back to pending the rows claimed by a process that is gone (or whose pid was reused)."""
    me = os.getpid()
    stale = [
        (row["id"],)
        for row in conn.execute("SELECT id, claimed_by, claimed_start FROM outbox WHERE status = 'sending'")
        if row["claimed_by"] != me and not pid_alive(row["claimed_by"], row["claimed_start"])
    ]
    conn.executemany(
        "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_start = NULL WHERE id = ?", stale
    )
    return len(stale)


def record(
    conn: sqlite3.Connection,
    delivery_id: int,
    *,
    delivered: bool,
    attempts: int,
    last_status: int | None,
    last_error: str | None,
) -> None:
    """Store the outcome of a claimed delivery's attempts."""
    now = utc_now()
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + ?, last_status = ?, last_error = ?,"
            " claimed_by = NULL, claimed_start = NULL, updated_at = ?,"
            " delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END,"
            " reported = 0 WHERE id = ?",
            (
                "delivered" if delivered else "failed",
                attempts,
                last_status,
                last_error,
                now,
                delivered,
                now,
                delivery_id,
            ),
        )


def list_deliveries(
    conn: sqlite3.Connection, *, status: str | None = None, limit: int | None = None
) -> list[Delivery]:
    """Deliveries newest first, optionally of one status."""
    sql, params = "SELECT * FROM outbox", []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return [_from_row(r) for r in conn.execute(sql, params)]


def count_pending(conn: sqlite3.Connection, statuses: tuple[str, ...] = ("pending", "sending")) -> int:
    marks = ",".join("?" * len(statuses))
    return conn.execute(f"SELECT COUNT(*) FROM outbox WHERE status IN ({marks})", statuses).fetchone()[0]


def take_unreported_failures(conn: sqlite3.Connection) -> list[Delivery]:
    """Failures nobody has been told about yet; marks them told (a best-effort, cheap query)."""
    rows = conn.execute(
        "SELECT * FROM outbox WHERE status = 'failed' AND reported = 0 ORDER BY id"
    ).fetchall()
    if rows:
        with transaction(conn):
            conn.executemany("UPDATE outbox SET reported = 1 WHERE id = ?", [(r["id"],) for r in rows])
    return [_from_row(r) for r in rows]


def list_by_ids(conn: sqlite3.Connection, ids: list[int]) -> list[Delivery]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [
        _from_row(r) for r in conn.execute(f"SELECT * FROM outbox WHERE id IN ({marks}) ORDER BY id", ids)
    ]
