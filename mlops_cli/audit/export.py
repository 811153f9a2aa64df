"""Exporting the audit events with their chain hashes, and verifying an export from the file alone.

Formats: jsonl (one event object per line, `git` and `details` as objects), csv and parquet
(one column per field; `git` and `details` as JSON text, which BI tools can parse). Each row
keeps `prev_hash` and `hash`, so `verify_file` recomputes every link with the same
`chain_hash` as `mlops audit verify`: an export of a verified chain re-verifies with nothing
but the file. An export that starts later (`--since`) verifies from its first `prev_hash`;
compare its last hash with the store's head to anchor it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.audit.trail import parse_since
from mlops_cli.domain import GENESIS_HASH, AuditEvent, chain_hash
from mlops_cli.errors import CheckFailedError, MissingDependencyError, MlopsError, UsageError
from mlops_cli.store import Store
from mlops_cli.store.events import event_from_row

FORMATS = ("jsonl", "csv", "parquet")
COLUMNS = (
    "seq",
    "ts",
    "action",
    "subject",
    "actor",
    "host",
    "message",
    "git",
    "details",
    "prev_hash",
    "hash",
)
PARQUET_BATCH = 10_000
# csv's default field limit is 128 KiB; one gc event that removed a few thousand blobs is larger.
# 2**31 - 1 is the largest limit every platform's C long takes.
CSV_FIELD_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class ExportResult:
    format: str
    output: str | None
    events: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None


def _events(store: Store, since: str | None) -> Iterator[AuditEvent]:
    sql, params = "SELECT * FROM events", []
    if since:
        sql += " WHERE ts >= ?"
        params.append(parse_since(since))
    for row in store.conn.execute(sql + " ORDER BY seq", params):
        yield event_from_row(row)


def _flat(event: AuditEvent) -> dict[str, Any]:
    """A row for csv/parquet: nested fields as JSON text."""
    return {
        **{k: getattr(event, k) for k in ("seq", "ts", "action", "subject", "actor", "host", "message")},
        "git": json.dumps(asdict(event.git), sort_keys=True) if event.git else None,
        "details": json.dumps(event.details, sort_keys=True, ensure_ascii=False),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def export_events(
    store: Store, fmt: str, *, since: str | None = None, output: Path | None = None
) -> ExportResult:
    """Write the events (oldest first) to `output` (atomically) or stdout; return a summary."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"use {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise UsageError("parquet is binary: give --output FILE")
    stats = _Counter()
    events = stats.count(_events(store, since))
    if output is None:
        _write(fmt, events, sys.stdout)
        sys.stdout.flush()
    else:
        output = output.absolute()
        temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        try:
            if fmt == "parquet":
                _write_parquet(events, temp)
            else:
                with open(temp, "w", newline="", encoding="utf-8") as handle:
                    _write(fmt, events, handle)
            os.replace(temp, output)
        except OSError as exc:
            raise MlopsError(f"cannot write {output}: {exc.strerror or exc}") from exc
        finally:
            temp.unlink(missing_ok=True)
    return ExportResult(fmt, str(output) if output else None, stats.n, stats.first, stats.last, stats.hash)


class _Counter:
    def __init__(self) -> None:
        self.n, self.first, self.last, self.hash = 0, None, None, None

    def count(self, events: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        for event in events:
            self.n += 1
            self.first = self.first or event.seq
            self.last, self.hash = event.seq, event.hash
            yield event


def _write(fmt: str, events: Iterable[AuditEvent], handle: io.TextIOBase) -> None:
    if fmt == "jsonl":
        for event in events:
            handle.write(json.dumps(asdict(event), sort_keys=True, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(handle, fieldnames=COLUMNS)
    writer.writeheader()
    for event in events:
        writer.writerow(_flat(event))


def _write_parquet(events: Iterable[AuditEvent], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "batch") from exc
    schema = pa.schema(
        [("seq", pa.int64())] + [(c, pa.string()) for c in COLUMNS[1:]],
        metadata={"mlops": "audit-export", "chain": "sha256(prev_hash + canonical event)"},
    )
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for event in events:
            batch.append(_flat(event))
            if len(batch) >= PARQUET_BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))


@dataclass
class FileVerifyReport:
    file: str
    format: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    complete: bool = False  # starts at the first event of the store (genesis)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def _detect(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PAR1":
        return "parquet"
    if head[:1] == b"{":
        return "jsonl"
    return "csv"


def _read_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as exc:
                        raise UsageError(f"{path} line {number} is not JSON: {exc}") from exc
    elif fmt == "csv":
        previous = csv.field_size_limit(CSV_FIELD_LIMIT)
        try:
            yield from _read_csv(path)
        finally:
            csv.field_size_limit(previous)
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingDependencyError("pyarrow", "batch") from exc
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
            for row in batch.to_pylist():
                yield {
                    **row,
                    "git": json.loads(row["git"]) if row["git"] else None,
                    "details": json.loads(row["details"]) if row["details"] is not None else None,
                }


def _read_csv(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise UsageError(f"{path} is not an mlops audit export (columns {reader.fieldnames})")
        for row in reader:
            if None in row or None in row.values():  # DictReader's marks of a short or long row
                raise UsageError(f"{path} line {reader.line_num} does not have {len(COLUMNS)} fields")
            yield {
                **row,
                "seq": int(row["seq"]),
                "message": row["message"] if row["message"] != "" else None,
                "git": json.loads(row["git"]) if row["git"] else None,
                "details": json.loads(row["details"]),
            }


def _event(row: Any) -> AuditEvent:
    """The event of one exported row; ValueError naming the first field of the wrong type."""
    if not isinstance(row, dict):
        raise ValueError("a row is not an object")
    if type(row["seq"]) is not int:
        raise ValueError(f"seq {row['seq']!r} is not an integer")
    for name in ("ts", "action", "subject", "actor", "host", "prev_hash", "hash"):
        if not isinstance(row[name], str):
            raise ValueError(f"{name} of event {row['seq']} is not a string")
    if not isinstance(row.get("message"), (str, type(None))):
        raise ValueError(f"message of event {row['seq']} is not a string")
    if not isinstance(row["details"], dict) or not isinstance(row.get("git"), (dict, type(None))):
        raise ValueError(f"details or git of event {row['seq']} is not an object")
    return AuditEvent.from_dict(row)


def verify_file(path: Path) -> FileVerifyReport:
    """Recompute every chain link of an export; raise CheckFailedError (exit 5) if one breaks."""
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    fmt = _detect(path)
    report = FileVerifyReport(file=str(path), format=fmt)
    expected_prev: str | None = None
    expected_seq: int | None = None
    try:
        for row in _read_rows(path, fmt):
            try:
                event = _event(row)
            except (KeyError, TypeError, ValueError) as exc:
                raise UsageError(f"{path} is not an mlops audit export: {exc}") from exc
            report.events += 1
            if report.first_seq is None:
                report.first_seq = event.seq
                report.complete = event.seq == 1 and event.prev_hash == GENESIS_HASH
                if event.seq == 1 and event.prev_hash != GENESIS_HASH:
                    report.problems.append("event 1 does not start from the genesis hash")
            elif event.seq != expected_seq:
                report.problems.append(f"event {expected_seq} is missing (next is {event.seq})")
            if expected_prev is not None and event.prev_hash != expected_prev:
                report.problems.append(f"event {event.seq} does not chain to the event before it")
            elif not _hash_ok(event):
                report.problems.append(f"event {event.seq} ({event.action} {event.subject}) was altered")
            expected_prev, expected_seq = event.hash, event.seq + 1
            report.last_seq, report.last_hash = event.seq, event.hash
    except (OSError, csv.Error, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise MlopsError(f"cannot read {path} as {fmt}: {exc}") from exc
    if report.events == 0:
        report.problems.append("the file holds no events")
    if report.problems:
        more = f" (and {len(report.problems) - 1} more problems)" if len(report.problems) > 1 else ""
        raise CheckFailedError(f"export verification failed: {report.problems[0]}{more}", report=report)
    return report


def _hash_ok(event: AuditEvent) -> bool:
    if chain_hash(event.prev_hash, event.chained_fields()) == event.hash:
        return True
    # csv cannot tell an empty message from none: accept either spelling.
    if event.message is None:
        fields = {**event.chained_fields(), "message": ""}
        return chain_hash(event.prev_hash, fields) == event.hash
    return False
