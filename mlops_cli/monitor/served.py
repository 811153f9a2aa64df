"""What `mlops serve --collect` wrote: the scored rows, and per request its status and latency.

The collector writes `requests-*.parquet` (one row per scored row) in the collection folder and
`calls/calls-*.parquet` (one row per scoring request, failed ones included: `ts`, `request_id`,
`endpoint`, `status`, `latency_ms`). A deployment's folder is `.mlops/deployments/NAME/collected/`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

CALLS = "calls"


def deployment_folder(store_root: Path, name: str) -> Path:
    """`.mlops/deployments/NAME/collected/`; NotFoundError when the deployment collected nothing."""
    folder = store_root / "deployments" / name
    if not folder.is_dir():
        raise NotFoundError(f"no deployment named {name!r}", hint="`mlops deploy` creates deployments")
    return folder / "collected"


def collected_files(folder: Path, what: str) -> list[Path]:
    """The complete `requests-*.parquet` files of a collection folder (oldest first)."""
    files = sorted(folder.glob("requests-*.parquet")) if folder.is_dir() else []
    if not files:
        raise NotFoundError(
            f"{what} has no collected data in {folder}",
            hint="serve the model with `--collect DIR` and send it traffic first",
        )
    return files


def since_filter(since: datetime | None) -> Any:
    """A RecordBatch filter keeping rows with `ts >= since` (None keeps everything)."""
    if since is None:
        return None

    def keep(batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow.compute as pc

        if "ts" not in batch.schema.names:
            return batch
        return batch.filter(pc.greater_equal(batch.column("ts"), _bound(since)))

    return keep


def traffic(folder: Path, since: datetime | None) -> dict[str, Any]:
    """Request count, error rate and latency percentiles of the served traffic.

    From `calls/` when the collector wrote it (every request, failed ones too); else the count
    of distinct request ids among the collected rows, with no error rate or latency.
    """
    import numpy as np
    import pyarrow.compute as pc

    calls = sorted((folder / CALLS).glob("calls-*.parquet")) if (folder / CALLS).is_dir() else []
    if calls:
        table = _read(calls, ["ts", "status", "latency_ms"], {"status": "int64", "latency_ms": "double"})
        if since is not None:
            table = table.filter(pc.greater_equal(table.column("ts"), _bound(since)))
        status = table.column("status").to_numpy()
        latency = table.column("latency_ms").to_numpy()
        requests = int(status.size)
        errors = int(np.count_nonzero(status >= 400))
        result: dict[str, Any] = {
            "requests": requests,
            "errors": errors,
            "error_rate": errors / requests if requests else None,
            "client_errors": int(np.count_nonzero((status >= 400) & (status < 500))),
            "server_errors": int(np.count_nonzero(status >= 500)),
            "latency_ms": None,
            "source": "calls",
        }
        if requests:
            p50, p90, p95, p99 = np.percentile(latency, [50, 90, 95, 99]).tolist()
            result["latency_ms"] = {
                "p50": p50,
                "p90": p90,
                "p95": p95,
                "p99": p99,
                "max": float(latency.max()),
            }
        return result
    ids: set[str] = set()
    table = _read(collected_files(folder, str(folder)), ["ts", "request_id"], {"request_id": "string"})
    if since is not None:
        table = table.filter(pc.greater_equal(table.column("ts"), _bound(since)))
    ids.update(pc.unique(table.column("request_id")).to_pylist())
    return {
        "requests": len(ids),
        "errors": None,
        "error_rate": None,
        "client_errors": None,
        "server_errors": None,
        "latency_ms": None,
        "source": "rows",
    }


def _bound(since: datetime) -> Any:
    import pyarrow as pa

    return pa.scalar(since, type=pa.timestamp("us", tz="UTC"))


def _read(paths: list[Path], columns: list[str], dtypes: dict[str, str]) -> pa.Table:
    """A few columns of the collector's files, through the batch readers like every table."""
    import pyarrow as pa

    from mlops_cli.batch.inputs import resolve_inputs
    from mlops_cli.batch.readers import iter_chunks

    files = resolve_inputs(tuple(str(p) for p in paths))
    batches = [c.batch for c in iter_chunks(files, columns, dtypes, 65_536)]
    if not batches:  # files with no rows: an empty table of the same columns
        import pyarrow.parquet as pq

        return pq.read_schema(files[0].path).empty_table().select(columns)
    return pa.Table.from_batches(batches)
