"""Checking a version before its files are handed out: rows against the trail, cheaply.

`audit verify` replays the whole trail; a command about to serve, score, convert, package or
download one version cannot afford that, and need not: it checks that version's chain of
evidence. The file rows must hash to the version digest, and that digest must be the one its
registration event recorded, an event whose own hash still holds and which the next event (or
the head file) still links to. Each blob is then checked against the manifest (size and
sha256) as it is copied out (`ObjectStore.materialise`). A few indexed queries: microseconds.
"""

from __future__ import annotations

import sqlite3

from mlops_cli.domain import AuditEvent, ModelVersion, chain_hash, recorded_digest
from mlops_cli.errors import IntegrityError
from mlops_cli.store.events import event_from_row

_HINT = "run `mlops audit verify` to see everything that differs"


def check_version(conn: sqlite3.Connection, version: ModelVersion) -> None:
    """Raise IntegrityError (exit 5) unless `version`'s files are the ones registered."""
    from mlops_cli.domain import Manifest

    files_digest = Manifest(version.files).digest
    if files_digest != version.digest:
        raise IntegrityError(
            f"{version.ref} does not match its registration: its file rows hash to {files_digest},"
            f" the version digest is {version.digest}; nothing was written",
            hint=_HINT,
        )
    event, recorded = _registration(conn, version.ref)
    if event is None:
        raise IntegrityError(f"{version.ref} has no registration event in the audit trail", hint=_HINT)
    if recorded != version.digest:
        raise IntegrityError(
            f"{version.ref} does not match its registration: the table says {version.digest},"
            f" the audit trail recorded {recorded}; nothing was written",
            hint=_HINT,
        )
    if chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
        raise IntegrityError(f"the registration event of {version.ref} was altered", hint=_HINT)
    following = conn.execute("SELECT prev_hash FROM events WHERE seq = ?", (event.seq + 1,)).fetchone()
    if following is not None and following[0] != event.hash:
        raise IntegrityError(
            f"the registration event of {version.ref} no longer links to the event after it", hint=_HINT
        )


def _registration(conn: sqlite3.Connection, ref: str) -> tuple[AuditEvent | None, str | None]:
    """The event that last established `ref` (its register/convert/pull, or a later `audit recover`)
    and the digest it recorded."""
    rows = conn.execute(
        "SELECT * FROM (SELECT * FROM events WHERE subject = ? AND action IN ('register', 'convert', 'pull')"
        " ORDER BY seq DESC LIMIT 1)"
        " UNION ALL SELECT * FROM (SELECT * FROM events WHERE action = 'recover' ORDER BY seq DESC LIMIT 1)"
        " ORDER BY seq DESC",
        (ref,),
    ).fetchall()
    for row in rows:
        event = event_from_row(row)
        digest = recorded_digest(event, ref)
        if digest is not None or event.action != "recover":
            return event, digest
    return None, None


def registration_event(conn: sqlite3.Connection, ref: str) -> AuditEvent | None:
    """The event that last established `ref`: what a bundle carries as the version's record."""
    return _registration(conn, ref)[0]
