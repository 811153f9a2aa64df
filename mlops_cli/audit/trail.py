"""Reading and verifying the audit trail: the event chain and every stored blob."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mlops_cli.domain import GENESIS_HASH, AuditEvent, NoProgress, ProgressSink, chain_hash
from mlops_cli.errors import CheckFailedError, UsageError
from mlops_cli.store import Store, registry
from mlops_cli.store.events import iter_chain, query_events

_RELATIVE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> str:
    """'2026-11-01', '2026-11-01T12:00', or a relative '7d'/'12h'/'30m' -> UTC ISO string."""
    text = text.strip()
    match = _RELATIVE.fullmatch(text)
    now = now or datetime.now(timezone.utc)
    if match:
        moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(
                f"invalid --since {text!r}", hint="use a date (2026-11-01), a time, or 7d / 12h / 30m"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
    problems: list[str] = field(default_factory=list)
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
            "problems": self.problems,
            "stale_temp": self.stale_temp,
        }


def verify_store(store: Store, progress: ProgressSink | None = None) -> VerifyReport:
    """Recompute the event chain and re-hash every blob.

    Returns the report when everything is intact; raises CheckFailedError (exit 5) naming the
    first broken event or blob otherwise, with the full report attached.
    """
    report = VerifyReport()
    if store.leftovers is not None:
        report.stale_temp = store.leftovers.to_dict()
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for event in iter_chain(store.conn):
        report.events += 1
        if event.seq != expected_seq:
            report.problems.append(f"event {expected_seq} is missing (next is {event.seq})")
        if event.prev_hash != expected_prev:
            report.problems.append(f"event {event.seq} does not chain to the event before it")
        elif chain_hash(event.prev_hash, event.chained_fields()) != event.hash:
            report.problems.append(f"event {event.seq} ({event.action} {event.subject}) was altered")
        expected_prev = event.hash
        expected_seq = event.seq + 1
    blobs = registry.all_blobs(store.conn)
    progress = progress or NoProgress()
    with progress.task("verifying blobs", sum(size for _, size in blobs)) as advance:
        for digest, size in blobs:
            report.blobs += 1
            report.bytes += size
            problem = store.objects.verify(digest, size, progress=advance)
            if problem:
                report.problems.append(f"blob {digest}: {problem}")
    if report.problems:
        more = f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        raise CheckFailedError(f"audit verification failed: {report.problems[0]}{more}", report=report)
    return report
