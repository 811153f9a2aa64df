"""Request/response collection off the request path: a bounded queue and one writer thread.

The request path only puts a reference to the arrays on the queue (or counts a drop when the
queue is full: collection must never slow scoring down). The writer turns records into rows and
writes rotating Parquet files: a file is written under a hidden `.NAME.parquet.tmp` name and
renamed when it is closed (after `rows_per_file` rows or `rotate_seconds`), so every visible
`*.parquet` file is complete and readable while the server runs.

Row layout (one row per scored row, which is what `mlops monitor` reads): `ts` (UTC
timestamp), `request_id`, `row` (index in the request), `endpoint`, `model`, `model_version`,
then the input columns (`feature_names` from the signature when known, else `INPUT` for a
one-column input or `INPUT_j`) and the output columns (`prediction`, `proba_<class>`, or
`OUTPUT`/`OUTPUT_j`).

Calls (one row per scoring request, failed ones included, which the row files cannot hold):
`calls/calls-<UTC time>-<pid>-<seq>.parquet` with `ts`, `request_id`, `endpoint`, `status` and
`latency_ms`, from which `mlops monitor` reports request count, error rate and latency. They
sit in a subfolder so the row files stay one schema.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("mlops.serving")

_STOP = object()


@dataclass
class Call:
    ts: float
    request_id: str
    endpoint: str
    status: int
    latency_s: float


@dataclass
class Record:
    ts: float
    request_id: str
    endpoint: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


class Collector:
    """Queue records with `submit()`; `close()` drains the queue and closes the last file."""

    def __init__(
        self,
        directory: Path,
        columns: Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], dict[str, list | np.ndarray]],
        model: str,
        version: str,
        metrics: Any,
        *,
        queue_size: int = 10_000,
        rows_per_file: int = 100_000,
        rotate_seconds: float = 300.0,
        flush_rows: int = 2_000,  # rows (not requests) gathered before a write
        flush_seconds: float = 2.0,
    ) -> None:
        try:
            import pyarrow  # noqa: F401 - fail at start-up, not in the writer thread
        except ImportError:
            raise RuntimeError(
                "--collect needs pyarrow: pip install 'mlops-cli[serve]', or build the image"
                " with `mlops package --with-collect`"
            ) from None

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.columns = columns
        self.model, self.version = model, version
        self.metrics = metrics
        self.rows_per_file = rows_per_file
        self.rotate_seconds = rotate_seconds
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._rows = _Stream(self.directory, "requests")
        self._calls = _Stream(self.directory / "calls", "calls")
        self.files = self._rows.files
        self._thread = threading.Thread(target=self._run, name="mlops-collector", daemon=True)
        self._thread.start()

    def submit(self, request_id: str, endpoint: str, inputs: dict, outputs: dict) -> None:
        """Queue one request's record without ever blocking; count it as dropped when full."""
        try:
            self.queue.put_nowait(Record(time.time(), request_id, endpoint, inputs, outputs))
        except queue.Full:
            self.metrics.dropped += 1
        else:
            self.metrics.collected += 1

    def submit_call(self, request_id: str, endpoint: str, status: int, latency_s: float) -> None:
        """Queue one scoring request's outcome (any status) without ever blocking."""
        try:
            self.queue.put_nowait(Call(time.time(), request_id, endpoint, status, latency_s))
        except queue.Full:
            self.metrics.dropped += 1

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far and close the current file."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join(timeout)

    # --- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        pending: list[Record | Call] = []
        pending_rows = 0
        last_flush = time.monotonic()
        while True:
            try:
                item = self.queue.get(timeout=self.flush_seconds / 2)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(pending)
                self._rows.close()
                self._calls.close()
                return
            if item is not None:
                pending.append(item)
                pending_rows += _rows(item)
            now = time.monotonic()
            if pending_rows >= self.flush_rows or (pending and now - last_flush >= self.flush_seconds):
                self._write(pending)
                pending, pending_rows = [], 0
                last_flush = now
            for stream in (self._rows, self._calls):
                if stream.writer is not None and time.monotonic() - stream.opened >= self.rotate_seconds:
                    stream.close()

    def _write(self, items: list[Record | Call]) -> None:
        records = [r for r in items if isinstance(r, Record)]
        calls = [c for c in items if isinstance(c, Call)]
        try:
            if records:
                self._rows.write(self._table(records), self.rows_per_file)
        except Exception:  # noqa: BLE001 - the writer must outlive a bad record; logged with traceback
            log.exception("collection: could not write %d records", len(records))
        try:
            if calls:
                self._calls.write(_calls_table(calls), self.rows_per_file)
        except Exception:  # noqa: BLE001 - as above
            log.exception("collection: could not write %d calls", len(calls))

    def _table(self, records: list[Record]):
        import pyarrow as pa

        columns: dict[str, list] = {
            "ts": [],
            "request_id": [],
            "row": [],
            "endpoint": [],
            "model": [],
            "model_version": [],
        }
        data: dict[str, list] = {}
        for record in records:
            cols = self.columns(record.inputs, record.outputs)
            n = len(next(iter(cols.values()))) if cols else 0
            columns["ts"] += [record.ts] * n
            columns["request_id"] += [record.request_id] * n
            columns["row"] += list(range(n))
            columns["endpoint"] += [record.endpoint] * n
            columns["model"] += [self.model] * n
            columns["model_version"] += [self.version] * n
            for key, values in cols.items():
                data.setdefault(key, []).append(values)
        arrays = {
            "ts": _timestamps(columns.pop("ts")),
            "row": pa.array(columns.pop("row"), pa.int32()),
        }
        arrays.update({k: pa.array(v, pa.string()) for k, v in columns.items()})
        for key, parts in data.items():
            arrays[key] = _concat(parts)
        order = ["ts", "request_id", "row", "endpoint", "model", "model_version", *data]
        return pa.table({k: arrays[k] for k in order})


class _Stream:
    """Rotating Parquet files of one schema: written as `.NAME.tmp`, renamed when closed."""

    def __init__(self, directory: Path, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix
        self.files: list[Path] = []
        self.writer = None
        self.opened = 0.0
        self._tmp: Path | None = None
        self._final: Path | None = None
        self._rows = 0
        self._schema = None
        self._sequence = 0

    def write(self, table, rows_per_file: int) -> None:
        if self.writer is not None and not table.schema.equals(self._schema):
            self.close()
        # A batch may hold more rows than a file has room for: split it, so no file ever holds
        # more than rows_per_file rows, whatever the request sizes.
        offset = 0
        while offset < table.num_rows:
            if self.writer is None:
                self._open(table.schema)
            piece = table.slice(offset, rows_per_file - self._rows)
            self.writer.write_table(piece)
            self._rows += piece.num_rows
            offset += piece.num_rows
            if self._rows >= rows_per_file:
                self.close()

    def _open(self, schema) -> None:
        import pyarrow.parquet as pq

        self.directory.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._sequence:05d}.parquet"
        self._final = self.directory / name
        self._tmp = self.directory / f".{name}.tmp"
        self.writer = pq.ParquetWriter(str(self._tmp), schema, compression="zstd")
        self._schema = schema
        self._rows = 0
        self.opened = time.monotonic()

    def close(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.close()
            os.replace(self._tmp, self._final)
            self.files.append(self._final)
        except OSError:
            log.exception("collection: could not close %s", self._tmp)
        finally:
            self.writer = None


def _timestamps(seconds: list[float]) -> Any:
    import pyarrow as pa

    return pa.array((np.array(seconds) * 1e6).astype(np.int64), pa.timestamp("us", tz="UTC"))


def _calls_table(calls: list[Call]):
    import pyarrow as pa

    return pa.table(
        {
            "ts": _timestamps([c.ts for c in calls]),
            "request_id": pa.array([c.request_id for c in calls], pa.string()),
            "endpoint": pa.array([c.endpoint for c in calls], pa.string()),
            "status": pa.array([c.status for c in calls], pa.int16()),
            "latency_ms": pa.array([c.latency_s * 1000.0 for c in calls], pa.float64()),
        }
    )


def _concat(parts: list) -> Any:
    import pyarrow as pa

    if all(isinstance(p, np.ndarray) and p.ndim == 1 and p.dtype.kind in "biuf" for p in parts):
        return pa.array(np.concatenate(parts))
    values: list = []
    for p in parts:
        values.extend(p.tolist() if isinstance(p, np.ndarray) else p)
    return pa.array(values)


def _rows(item: Record | Call) -> int:
    """How many rows an item adds to the files (a call is one row of the calls file)."""
    if isinstance(item, Call):
        return 1
    first = next(iter(item.inputs.values()), None)
    return int(first.shape[0]) if first is not None and getattr(first, "ndim", 0) else 1
