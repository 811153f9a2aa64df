"""Audit events between a store and a remote: each store's chain, filed under its origin.

Push uploads this store's events and the events it pulled from others, each file created once.
Pull downloads the events of every other origin it lacks and accepts them only when they
continue that origin's chain unbroken; they are kept apart from this store's own chain
(`pulled_events`), marked with their origin, so both chains stay verifiable.
"""

from __future__ import annotations

from mlops_cli.domain import GENESIS_HASH, AuditEvent
from mlops_cli.errors import IntegrityError
from mlops_cli.remote import layout
from mlops_cli.remote.connection import Remote, parallel
from mlops_cli.store import Store
from mlops_cli.store import remotes as sql


def upload_events(store: Store, remote: Remote) -> int:
    """Upload every event the remote lacks, of this store and of the stores it pulled from."""
    own = sql.origin_id(store.conn)
    todo: list[tuple[str, AuditEvent]] = []
    have = layout.numbered(remote.backend.list(layout.events_folder(own)))
    missing = set(range(1, sql.last_seq(store.conn) + 1)) - have
    todo += [(own, event) for event in sql.own_events(store.conn, missing)]
    for origin in sql.pulled_origins(store.conn):
        have = layout.numbered(remote.backend.list(layout.events_folder(origin)))
        missing = set(sql.pulled_seqs(store.conn, origin)) - have
        if missing:
            todo += [(origin, e) for e in sql.pulled_events(store.conn, origin) if e.seq in missing]
    parallel(lambda item: _create_event(remote, *item), todo)
    return len(todo)


def _create_event(remote: Remote, origin: str, event: AuditEvent) -> None:
    path = layout.event_path(origin, event.seq)
    if remote.backend.create(path, layout.event_record(event)):
        return
    there = layout.parse_event(remote.backend.read_bytes(path) or b"{}", f"{remote.config.url}/{path}")
    if there.hash != event.hash:
        raise IntegrityError(
            f"remote {remote.name!r} holds another event {event.seq} for store {origin}"
            f" (hash {there.hash[:12]}…, here {event.hash[:12]}…)",
            hint="two stores share one origin id (a copied .mlops folder?): push from one of them only",
        )


def download_events(store: Store, remote: Remote) -> list[tuple[str, AuditEvent]]:
    """The events of other stores that this one lacks, chain-checked; nothing is written yet.

    Raises IntegrityError when a remote event file is damaged or breaks its origin's chain.
    """
    own = sql.origin_id(store.conn)
    heads = sql.pulled_heads(store.conn)
    found: list[tuple[str, AuditEvent]] = []
    for origin in sorted(remote.backend.list("events")):
        if origin == own:
            continue
        head = heads.get(origin, (0, GENESIS_HASH))
        listed = layout.numbered(remote.backend.list(layout.events_folder(origin)))
        seqs = _contiguous(listed, head[0])
        events = parallel(lambda seq, origin=origin: _read_event(remote, origin, seq), seqs)
        problems = sql.chain_problems(events, head)
        if problems:
            raise IntegrityError(
                f"the audit events of store {origin} on remote {remote.name!r} are not a chain:"
                f" {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                hint="nothing was pulled; the store that pushed them can push them again",
            )
        found += [(origin, event) for event in events]
    return found


def _contiguous(listed: set[int], after: int) -> list[int]:
    """The numbers after `after` up to the first gap: a push killed while it uploaded events in
    parallel can leave holes, filled by its next push; what lies beyond waits for that."""
    seqs = []
    while after + 1 in listed:
        after += 1
        seqs.append(after)
    return seqs


def _read_event(remote: Remote, origin: str, seq: int) -> AuditEvent:
    path = layout.event_path(origin, seq)
    data = remote.backend.read_bytes(path)
    if data is None:
        raise IntegrityError(f"event {seq} of store {origin} vanished from remote {remote.name!r}")
    return layout.parse_event(data, f"{remote.config.url}/{path}")
