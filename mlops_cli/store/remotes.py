"""Remotes, version-number mappings, pulled versions and pulled audit events: their SQL.

A remote is a name for a URL; no credential is ever stored here (the backends read their own
environment and config). `remote_versions` records which local version is which remote version
(equal numbers for most, different after `push --renumber` or a pull into a taken number).
`pulled_events` keeps other stores' events exactly as their origin chained them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlops_cli.domain import GENESIS_HASH, AuditEvent, ModelRef, ModelVersion, Provenance, chain_hash
from mlops_cli.errors import NotFoundError, UsageError
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event, event_from_row, utc_now
from mlops_cli.store.registry import get_version, insert_version


@dataclass(frozen=True)
class RemoteConfig:
    name: str
    url: str
    is_default: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "default": self.is_default, "created_at": self.created_at}


def origin_id(conn: sqlite3.Connection) -> str:
    """This store's origin: the name its events are filed under on every remote."""
    return conn.execute("SELECT id FROM store_origin").fetchone()["id"]


def _config(row: sqlite3.Row) -> RemoteConfig:
    return RemoteConfig(row["name"], row["url"], bool(row["is_default"]), row["created_at"])


def list_remotes(conn: sqlite3.Connection) -> list[RemoteConfig]:
    return [_config(r) for r in conn.execute("SELECT * FROM remotes ORDER BY name")]


def get_remote(conn: sqlite3.Connection, name: str | None) -> RemoteConfig:
    """The remote called `name`, or the default one when `name` is None."""
    if name is None:
        row = conn.execute("SELECT * FROM remotes WHERE is_default = 1").fetchone()
        if row is None:
            raise UsageError(
                "no default remote",
                hint="pass --remote NAME, or make one the default: mlops remote add NAME URL --default",
            )
        return _config(row)
    row = conn.execute("SELECT * FROM remotes WHERE name = ?", (name,)).fetchone()
    if row is None:
        known = [r.name for r in list_remotes(conn)]
        hint = f"remotes: {', '.join(known)}" if known else "add one with: mlops remote add NAME URL"
        raise NotFoundError(f"no remote named {name!r}", hint=hint)
    return _config(row)


def default_remote(conn: sqlite3.Connection) -> RemoteConfig | None:
    row = conn.execute("SELECT * FROM remotes WHERE is_default = 1").fetchone()
    return _config(row) if row else None


def add_remote(
    conn: sqlite3.Connection, name: str, url: str, is_default: bool, provenance: Provenance
) -> RemoteConfig:
    """Add (or re-point) a remote; with `is_default` it replaces the previous default."""
    now = utc_now()
    with transaction(conn):
        existing = conn.execute("SELECT 1 FROM remotes WHERE name = ?", (name,)).fetchone()
        if existing is None and not conn.execute("SELECT 1 FROM remotes LIMIT 1").fetchone():
            is_default = True  # the first remote is the default: nothing else could be
        if is_default:
            conn.execute("UPDATE remotes SET is_default = 0")
        conn.execute(
            "INSERT INTO remotes (name, url, is_default, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT (name) DO UPDATE SET url = excluded.url,"
            " is_default = MAX(is_default, excluded.is_default)",
            (name, url, int(is_default), now),
        )
        config = get_remote(conn, name)
        append_event(conn, "remote.add", name, provenance, {"url": url, "default": config.is_default})
    return config


def remove_remote(conn: sqlite3.Connection, name: str, provenance: Provenance) -> RemoteConfig:
    with transaction(conn):
        config = get_remote(conn, name)
        conn.execute("DELETE FROM remotes WHERE name = ?", (name,))
        append_event(conn, "remote.remove", name, provenance, {"url": config.url})
    return config


# ---- version numbers -------------------------------------------------------------------------


def remote_numbers(conn: sqlite3.Connection, remote_id: str) -> dict[tuple[str, int], tuple[int, str]]:
    """{(name, local number): (remote number, digest)} of everything recorded for one remote."""
    rows = conn.execute(
        "SELECT name, local_version, remote_version, digest FROM remote_versions WHERE remote_id = ?",
        (remote_id,),
    )
    return {(r["name"], r["local_version"]): (r["remote_version"], r["digest"]) for r in rows}


def local_for_remote(conn: sqlite3.Connection, remote_id: str, name: str, number: int) -> int | None:
    row = conn.execute(
        "SELECT local_version FROM remote_versions WHERE remote_id = ? AND name = ? AND remote_version = ?",
        (remote_id, name, number),
    ).fetchone()
    return row["local_version"] if row else None


def _map(conn: sqlite3.Connection, remote_id: str, name: str, remote: int, local: int, digest: str) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO remote_versions"
        " (remote_id, name, remote_version, local_version, digest, recorded_at) VALUES (?,?,?,?,?,?)",
        (remote_id, name, remote, local, digest, utc_now()),
    )


def record_push(
    conn: sqlite3.Connection,
    remote: RemoteConfig,
    remote_id: str,
    published: list[dict[str, Any]],
    provenance: Provenance,
) -> None:
    """Record what a push published (`{"ref", "remote_ref", "digest"}` each) with its event."""
    with transaction(conn):
        for item in published:
            name, _, local = item["ref"].rpartition(":")
            _, _, remote_number = item["remote_ref"].rpartition(":")
            _map(conn, remote_id, name, int(remote_number), int(local), item["digest"])
        append_event(
            conn,
            "push",
            remote.name,
            provenance,
            {"remote": {"name": remote.name, "url": remote.url, "id": remote_id}, "versions": published},
        )


def version_numbers(conn: sqlite3.Connection) -> dict[str, dict[int, str]]:
    """{name: {number: digest}} of every local version."""
    result: dict[str, dict[int, str]] = {}
    for row in conn.execute(
        "SELECT m.name, v.version, v.digest FROM versions v JOIN models m ON m.id = v.model_id"
    ):
        result.setdefault(row["name"], {})[row["version"]] = row["digest"]
    return result


def next_free_number(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT last_version FROM models WHERE name = ?", (name,)).fetchone()
    return (row["last_version"] if row else 0) + 1


def import_versions(
    conn: sqlite3.Connection,
    remote: RemoteConfig,
    remote_id: str,
    pulled: Iterable[tuple[dict[str, Any], int, dict[str, Any]]],
    present: Iterable[tuple[str, int, int, str]],
    events: Iterable[tuple[str, AuditEvent]],
    provenance: Provenance,
    blob_exists: Callable[[str, int], bool],
    write_record: Callable[[str, dict[str, Any] | None], None],
) -> list[ModelVersion]:
    """Insert pulled versions and events in one transaction, each version with a `pull` event.

    `pulled` holds (state, local number, origin) triples: `state` is the remote's version
    record (what `register` recorded, with the tags it had when pushed); `origin` names the
    store and event that created it. `present` holds (name, remote number, local number, digest)
    of versions this store already had: only their mapping is recorded (a cache of what the
    remote says, so the next pull need not read their records). `events` are (origin, event)
    pairs of other stores' chains.
    """
    recorded: list[str] = []
    try:
        with transaction(conn):
            for origin, event in events:
                _insert_pulled_event(conn, origin, event)
            for name, remote_number, local, digest in present:
                _map(conn, remote_id, name, remote_number, local, digest)
            refs = []
            for state, local, origin in pulled:
                ref = f"{state['name']}:{local}"
                local_state = {**state, "version": local, "alias": None}
                for digest, size in _blob_rows(local_state):
                    if not blob_exists(digest, size):
                        raise NotFoundError(f"blob {digest} vanished while pulling; try again")
                    conn.execute("INSERT OR IGNORE INTO blobs (digest, size) VALUES (?, ?)", (digest, size))
                now = utc_now()
                insert_version(conn, local_state, now)
                _map(conn, remote_id, state["name"], state["version"], local, state["digest"])
                recorded.append(ref)
                write_record(ref, local_state)
                append_event(
                    conn,
                    "pull",
                    ref,
                    provenance,
                    {
                        "remote": {"name": remote.name, "url": remote.url, "id": remote_id},
                        "remote_ref": f"{state['name']}:{state['version']}",
                        "digest": state["digest"],
                        "origin": origin,
                        # replayed like a register event (audit/replay.py)
                        "state": {"version": {k: v for k, v in local_state.items() if k != "files"}},
                    },
                )
                refs.append(ref)
    except BaseException:
        for ref in recorded:
            write_record(ref, None)
        raise
    return [get_version(conn, ModelRef.parse(ref)) for ref in refs]


def _blob_rows(state: dict[str, Any]) -> set[tuple[str, int]]:
    rows = {(digest, size) for _, size, _, digest in state["files"]}
    return rows | {(d["digest"], d["size"]) for d in state["datasets"]}


# ---- pulled audit events ----------------------------------------------------------------------


def _insert_pulled_event(conn: sqlite3.Connection, origin: str, event: AuditEvent) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO pulled_events (origin, seq, ts, action, subject, actor, host, message,"
        " git, details, prev_hash, hash, pulled_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            origin,
            event.seq,
            event.ts,
            event.action,
            event.subject,
            event.actor,
            event.host,
            event.message,
            json.dumps(event.chained_fields()["git"]) if event.git else None,
            json.dumps(event.details, sort_keys=True),
            event.prev_hash,
            event.hash,
            utc_now(),
        ),
    )


def pulled_heads(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """{origin: (last seq, last hash)} of the events pulled from each other store."""
    rows = conn.execute(
        "SELECT origin, seq, hash FROM pulled_events p"
        " WHERE seq = (SELECT MAX(seq) FROM pulled_events WHERE origin = p.origin)"
    )
    return {r["origin"]: (r["seq"], r["hash"]) for r in rows}


def pulled_events(conn: sqlite3.Connection, origin: str, after: int = 0) -> list[AuditEvent]:
    rows = conn.execute(
        "SELECT * FROM pulled_events WHERE origin = ? AND seq > ? ORDER BY seq", (origin, after)
    )
    return [event_from_row(r) for r in rows]


def pulled_origins(conn: sqlite3.Connection) -> list[str]:
    return [r["origin"] for r in conn.execute("SELECT DISTINCT origin FROM pulled_events ORDER BY origin")]


def chain_problems(events: Iterable[AuditEvent], prev: tuple[int, str] = (0, GENESIS_HASH)) -> list[str]:
    """Where a run of events fails to continue the chain ending at `prev` (seq, hash)."""
    problems = []
    seq, prev_hash = prev
    for event in events:
        if event.seq != seq + 1:
            problems.append(f"event {seq + 1} is missing (next is {event.seq})")
        if event.prev_hash != prev_hash:
            problems.append(f"event {event.seq} does not chain to the event before it")
        elif chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
            problems.append(f"event {event.seq} ({event.action} {event.subject}) was altered")
        seq, prev_hash = event.seq, event.hash
    return problems


def pulled_chain_problems(conn: sqlite3.Connection) -> list[str]:
    """Every break in the chains of pulled events, per origin (for `audit verify`)."""
    try:
        origins = pulled_origins(conn)
    except sqlite3.OperationalError:  # a store from before remotes
        return []
    return [
        f"pulled events of store {origin}: {problem}"
        for origin in origins
        for problem in chain_problems(pulled_events(conn, origin))
    ]


def creation_events(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """{ref: (seq, hash)} of the newest event that created each version here (register,
    convert or pull): the origin a pushed version names, so its history can be followed."""
    rows = conn.execute(
        "SELECT subject, seq, hash FROM events WHERE action IN ('register', 'convert', 'pull') ORDER BY seq"
    )
    return {r["subject"]: (r["seq"], r["hash"]) for r in rows}


def own_events(conn: sqlite3.Connection, seqs: Iterable[int]) -> list[AuditEvent]:
    """This store's events with the given numbers, in chain order."""
    wanted = sorted(set(seqs))
    if not wanted:
        return []
    rows = conn.execute("SELECT * FROM events WHERE seq >= ? ORDER BY seq", (wanted[0],))
    keep = set(wanted)
    return [event_from_row(r) for r in rows if r["seq"] in keep]


def last_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]


def pulled_seqs(conn: sqlite3.Connection, origin: str) -> list[int]:
    return [r["seq"] for r in conn.execute("SELECT seq FROM pulled_events WHERE origin = ?", (origin,))]
