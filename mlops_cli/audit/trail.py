"""Reading and verifying the audit trail: the database, the chain, the head, replay, the blobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_cli import durations
from mlops_cli.audit import replay
from mlops_cli.domain import GENESIS_HASH, AuditEvent, NoProgress, ProgressSink, chain_hash
from mlops_cli.errors import IntegrityError, UsageError
from mlops_cli.store import Store, registry
from mlops_cli.store.events import iter_chain, query_events
from mlops_cli.store.head import HEAD_FILENAME, Head, database_head, parse_head, read_head_file
from mlops_cli.store.migrations import head_file_expected
from mlops_cli.store.remotes import pulled_chain_problems
from mlops_cli.store.snapshot import read_tables


def parse_since(text: str) -> str:
    """`--since` (a date, a time, or `7d` / `12h` / `30m` back) as the UTC ISO string events store."""
    moment = durations.parse_since(text)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def audit_log(
    store: Store,
    *,
    model: str | None = None,
    action: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events newest first, filtered as asked."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    return query_events(
        store.conn,
        model=model,
        action=action,
        since=parse_since(since) if since else None,
        limit=limit,
    )


@dataclass
class VerifyReport:
    events: int = 0
    blobs: int = 0
    bytes: int = 0
    versions: int = 0
    head: str | None = None  # SEQ:HASH of the newest event
    legacy_events: int = 0  # events from before events carried their state
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stale_temp: dict | None = None  # temp data of dead processes: {"files", "bytes", "removed"}

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "events": self.events,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "versions": self.versions,
            "head": self.head,
            "legacy_events": self.legacy_events,
            "problems": self.problems,
            "notes": self.notes,
            "stale_temp": self.stale_temp,
        }


def audit_head(store: Store) -> Head:
    """The newest event's `SEQ:HASH`, to record elsewhere (CI logs, git) and check later."""
    found = database_head(store.conn)
    if found is None:
        raise IntegrityError("the audit trail is empty: not even the store's init event is there")
    return found


def verify_store(
    store: Store, progress: ProgressSink | None = None, expected_head: str | None = None
) -> VerifyReport:
    """Check the store end to end, cheapest first; return the report when everything holds.

    1. SQLite's integrity check: a damaged database stops here.
    2. The event chain: every event hashes to its recorded hash and links to the one before.
    3. The head: the trail still reaches the head kept in `.mlops/audit-head` and, when given,
       `expected_head` (SEQ:HASH): a removed newest event shows here.
    4. Replay: the registry rebuilt from the trail equals the tables, row for row.
    5. Every blob is re-hashed.

    Raises IntegrityError (exit 5) naming the first problem (and how many more), with the
    full report attached; UsageError for a malformed `expected_head`.
    """
    wanted = parse_head(expected_head) if expected_head else None
    _integrity_check(store)
    report = VerifyReport()
    if store.leftovers is not None:
        report.stale_temp = store.leftovers.to_dict()
    events = _check_chain(store, report)
    _check_heads(store, report, events, wanted)
    report.problems += pulled_chain_problems(store.conn)  # other stores' events, chain per origin
    trail = replay.replay(events)
    report.legacy_events = trail.legacy_events
    if trail.legacy_events:
        report.notes.append(
            f"{trail.legacy_events} events predate events carrying their state: for their versions"
            " the digest, files, framework, size, message, tags, aliases and datasets were compared,"
            " not created_at, description, signature or metadata"
        )
    tables = read_tables(store.conn)
    report.versions = len(tables.versions)
    report.problems += trail.problems
    report.problems += replay.compare(trail, tables)
    _check_blobs(store, report, progress)
    if report.problems:
        more = f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        raise IntegrityError(f"audit verification failed: {report.problems[0]}{more}", report=report)
    return report


def _integrity_check(store: Store) -> None:
    rows = [r[0] for r in store.conn.execute("PRAGMA integrity_check(20)")]
    if rows != ["ok"]:
        report = VerifyReport(problems=[f"database: {row}" for row in rows])
        raise IntegrityError(
            f"the store database {store.paths.db} is damaged: {rows[0]}"
            + (f" (and {len(rows) - 1} more problems)" if len(rows) > 1 else ""),
            hint="restore mlops.db from a backup, or rebuild a store with `mlops audit recover --output DIR`",
            report=report,
        )


def _check_chain(store: Store, report: VerifyReport) -> list[AuditEvent]:
    events = []
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for event in iter_chain(store.conn):
        events.append(event)
        if event.seq != expected_seq:
            report.problems.append(f"event {expected_seq} is missing (next is {event.seq})")
        if event.prev_hash != expected_prev:
            report.problems.append(f"event {event.seq} does not chain to the event before it")
        elif chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
            report.problems.append(f"event {event.seq} ({event.action} {event.subject}) was altered")
        expected_prev = event.hash
        expected_seq = event.seq + 1
    report.events = len(events)
    if events:
        report.head = f"{events[-1].seq}:{events[-1].hash}"
    return events


def _reaches(events: list[AuditEvent], head: Head) -> str | None:
    """None when the trail holds `head`; else why not."""
    last = events[-1].seq if events else 0
    if head.seq > last:
        return f"the trail ends at event {last}; events {last + 1}-{head.seq} were removed"
    at = next((e for e in events if e.seq == head.seq), None)
    if at is None:
        return f"event {head.seq} is missing"
    if at.hash != head.hash:
        return f"event {head.seq} is not the one recorded (hash {at.hash[:12]}…, recorded {head.hash[:12]}…)"
    return None


def _check_heads(store: Store, report: VerifyReport, events: list[AuditEvent], wanted: Head | None) -> None:
    head_file = store.paths.root / HEAD_FILENAME
    try:
        recorded = read_head_file(head_file)
    except UsageError:
        report.problems.append(f"the head file {head_file} is garbled")
        recorded = None
    else:
        if recorded is None:
            if head_file_expected(store.conn):
                report.problems.append(
                    f"the head file {head_file} is missing (it is written after every change;"
                    " deleting it hides removed events)"
                )
            else:
                report.notes.append("no head file yet: the store predates it; the next change writes it")
        else:
            why = _reaches(events, recorded)
            if why:
                report.problems.append(f"the trail does not reach the head recorded in {head_file}: {why}")
            elif events and recorded.seq < events[-1].seq:
                report.notes.append(
                    f"the head file records event {recorded.seq}, the trail goes on to {events[-1].seq}"
                    " (a write could not update it)"
                )
    if wanted is not None:
        why = _reaches(events, wanted)
        if why:
            report.problems.append(f"the trail does not reach the given head {wanted.seq}: {why}")


def _check_blobs(store: Store, report: VerifyReport, progress: ProgressSink | None) -> None:
    blobs = registry.all_blobs(store.conn)
    progress = progress or NoProgress()
    with progress.task("verifying blobs", sum(size for _, size in blobs)) as advance:
        for digest, size in blobs:
            report.blobs += 1
            report.bytes += size
            problem = store.objects.verify(digest, size, progress=advance)
            if problem:
                report.problems.append(f"blob {digest}: {problem}")
