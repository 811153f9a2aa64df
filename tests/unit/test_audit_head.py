"""The head file outside the database: moved by every commit that appends events, only forwards,
and never away from a head the database no longer holds (that file is the evidence)."""

from __future__ import annotations

from mlops_cli.audit.provenance import provenance
from mlops_cli.store.db import transaction
from mlops_cli.store.events import append_event
from mlops_cli.store.head import HEAD_FILENAME, database_head, read_head_file, write_head_file


def _append(store, action: str = "test.thing") -> None:
    with transaction(store.conn):
        append_event(store.conn, action, "x", provenance(), {})


def test_every_commit_with_events_moves_the_head_file(store):
    path = store.paths.root / HEAD_FILENAME
    _append(store)
    assert read_head_file(path) == database_head(store.conn)
    with transaction(store.conn):
        pass  # a transaction without events leaves it alone
    _append(store, "deploy.create")  # another feature's event: the same generic path
    assert read_head_file(path) == database_head(store.conn)


def test_the_head_file_never_moves_backwards(store):
    path = store.paths.root / HEAD_FILENAME
    _append(store)
    newer = read_head_file(path)
    store.conn.execute("DROP TRIGGER events_no_delete")
    store.conn.execute("DELETE FROM events WHERE seq = ?", (newer.seq,))
    write_head_file(store.conn, path)  # a late writer with an older head
    assert read_head_file(path) == newer


def test_evidence_of_a_truncation_is_not_overwritten_by_later_writes(store):
    path = store.paths.root / HEAD_FILENAME
    _append(store)
    evidence = read_head_file(path)
    store.conn.execute("DROP TRIGGER events_no_delete")
    store.conn.execute("DELETE FROM events WHERE seq = ?", (evidence.seq,))
    _append(store)
    _append(store)  # the trail is now longer than the head file's, but does not hold it
    assert read_head_file(path) == evidence
