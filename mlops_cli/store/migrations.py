"""The schema, as numbered migrations tracked in PRAGMA user_version.

Each migration runs in its own transaction. A migration is never edited once landed: a change
is a new function appended to MIGRATIONS.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from mlops_cli.errors import StoreError


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: executescript() would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def m001_registry_and_audit(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT,
            last_version INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            size INTEGER NOT NULL
        );
        CREATE INDEX blobs_size ON blobs(size);
        CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            framework TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            host TEXT NOT NULL,
            source_path TEXT,
            description TEXT,
            message TEXT,
            git TEXT,
            signature TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            UNIQUE (model_id, version)
        );
        CREATE INDEX versions_digest ON versions(digest);
        CREATE TABLE files (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mode INTEGER NOT NULL,
            digest TEXT NOT NULL REFERENCES blobs(digest),
            PRIMARY KEY (version_id, path)
        );
        CREATE INDEX files_digest ON files(digest);
        CREATE TABLE datasets (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            role TEXT NOT NULL,
            size INTEGER NOT NULL,
            digest TEXT NOT NULL REFERENCES blobs(digest),
            PRIMARY KEY (version_id, path)
        );
        CREATE INDEX datasets_digest ON datasets(digest);
        CREATE TABLE tags (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (version_id, key)
        );
        CREATE TABLE aliases (
            model_id INTEGER NOT NULL REFERENCES models(id),
            alias TEXT NOT NULL,
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            PRIMARY KEY (model_id, alias)
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            actor TEXT NOT NULL,
            host TEXT NOT NULL,
            message TEXT,
            git TEXT,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX events_action ON events(action);
        CREATE INDEX events_subject ON events(subject);
        -- The audit log is append-only: the database itself refuses edits and deletions.
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        """,
    )


def m002_jobs_and_artifacts(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            model_ref TEXT,
            model_digest TEXT,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX jobs_kind ON jobs(kind, created_at);
        CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            digest TEXT,
            details TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE INDEX artifacts_version ON artifacts(version_id, kind);
        """,
    )


def m003_audit_head_file(conn: sqlite3.Connection) -> None:
    """From this schema on the store keeps its audit head in `.mlops/audit-head` as well.

    The row says so, so that a missing head file (deleted along with the newest events) is
    reported by `audit verify` instead of passing as "a store from before head files".
    """
    _run_script(
        conn,
        """
        CREATE TABLE store_features (
            name TEXT PRIMARY KEY,
            since TEXT NOT NULL
        );
        INSERT INTO store_features (name, since)
            VALUES ('audit-head-file', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
        """,
    )


def m004_outbox(conn: sqlite3.Connection) -> None:
    """Hook deliveries: one row per (event, hook), written in the event's own transaction."""
    _run_script(
        conn,
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            delivery_id TEXT NOT NULL UNIQUE,
            event_seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            hook TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            claimed_by INTEGER,
            reported INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE INDEX outbox_status ON outbox(status, id);
        CREATE INDEX outbox_event ON outbox(event_seq);
        """,
    )


def m005_deployments(conn: sqlite3.Connection) -> None:
    """Deployments and their revisions. A revision names its model by name, number and digest
    (not a foreign key): history outlives a version that is removed once nothing runs it."""
    _run_script(
        conn,
        """
        CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            target TEXT NOT NULL,
            current_revision INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
            revision INTEGER NOT NULL,
            kind TEXT NOT NULL,
            model TEXT NOT NULL,
            version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            requested_ref TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT,
            spec TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT '{}',
            rollback_of INTEGER,
            created_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            message TEXT,
            UNIQUE (deployment_id, revision)
        );
        CREATE INDEX revisions_model ON revisions(model, version, outcome);
        """,
    )


def m006_audit_hooks_claims_and_redaction(conn: sqlite3.Connection) -> None:
    """Outbox claims keep the claiming process's start time (a reused pid is not the claimer),
    and rows written before URLs were redacted lose their credentials."""
    import json

    from mlops_cli.redaction import redact_url

    conn.execute("ALTER TABLE outbox ADD COLUMN claimed_start TEXT")
    rows = conn.execute("SELECT id, hook, target FROM outbox WHERE kind = 'webhook'").fetchall()
    for row_id, hook_text, target in rows:
        hook = json.loads(hook_text)
        hook["target"] = redact_url(hook.get("target") or target)
        conn.execute(
            "UPDATE outbox SET hook = ?, target = ? WHERE id = ?",
            (json.dumps(hook, sort_keys=True), redact_url(target), row_id),
        )


def m007_remote_push_pull(conn: sqlite3.Connection) -> None:
    """Remotes, the store's origin id, which local version is which remote version, and the
    audit events pulled from other stores (each origin's own chain, kept as it came)."""
    _run_script(
        conn,
        """
        CREATE TABLE store_origin (
            id TEXT NOT NULL
        );
        INSERT INTO store_origin (id) VALUES (lower(hex(randomblob(16))));
        CREATE TABLE remotes (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            is_default INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE TABLE remote_versions (
            remote_id TEXT NOT NULL,
            name TEXT NOT NULL,
            remote_version INTEGER NOT NULL,
            local_version INTEGER NOT NULL,
            digest TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (remote_id, name, remote_version)
        );
        CREATE INDEX remote_versions_local ON remote_versions(remote_id, name, local_version);
        CREATE TABLE pulled_events (
            origin TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            actor TEXT NOT NULL,
            host TEXT NOT NULL,
            message TEXT,
            git TEXT,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            pulled_at TEXT NOT NULL,
            PRIMARY KEY (origin, seq)
        );
        CREATE TRIGGER pulled_events_no_update BEFORE UPDATE ON pulled_events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        CREATE TRIGGER pulled_events_no_delete BEFORE DELETE ON pulled_events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
        """,
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_registry_and_audit,
    m002_jobs_and_artifacts,
    m003_audit_head_file,
    m004_outbox,
    m005_deployments,
    m006_audit_hooks_claims_and_redaction,
    m007_remote_push_pull,
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_schema(conn: sqlite3.Connection) -> int:
    """Refuse a database written by a newer mlops; return its schema version."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"this store has schema version {current}, newer than this mlops understands ({SCHEMA_VERSION})",
            hint="upgrade mlops-cli (pip install -U mlops-cli)",
        )
    return current


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database lacks, each in one transaction; return the version.

    Concurrent processes are safe: the version is re-read under the write lock.
    """
    if check_schema(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    for number, migration in enumerate(MIGRATIONS, start=1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < number:
                migration(conn)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def head_file_expected(conn: sqlite3.Connection) -> bool:
    """True when the store keeps `.mlops/audit-head` (m003 applied), so its absence is a problem."""
    try:
        row = conn.execute("SELECT 1 FROM store_features WHERE name = 'audit-head-file'").fetchone()
    except sqlite3.OperationalError:
        # The table is gone: a store past m003 had it, so someone dropped it.
        return schema_version(conn) >= MIGRATIONS.index(m003_audit_head_file) + 1
    return row is not None
