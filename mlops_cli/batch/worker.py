"""Scoring one chunk and writing it as a finished part, in this process or a worker process.

A worker process holds one scorer for its lifetime: a Predictor (its own onnxruntime session,
with the threads it was given), or for an Azure-form entry script a ScriptScorer (its own
child process that ran `init()` once). The main process only reads, dispatches and assembles.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.batch.error_rows import errors_table
from mlops_cli.runtime.mapping import InputError, to_arrow
from mlops_cli.runtime.predictor import Predictor
from mlops_cli.runtime.session import SessionConfig

if TYPE_CHECKING:
    import pyarrow as pa

    from mlops_cli.batch.script_scorer import ScriptScorer, ScriptSpec


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to score chunks; plain data, so it pickles to a new process."""

    model_path: str
    model_digest: str
    signature: dict[str, Any]
    features: tuple[str, ...] | None
    class_labels: tuple[Any, ...] | None
    threads: int
    optimization: str
    passthrough: tuple[str, ...]
    on_error: str
    parts_dir: str
    file_names: tuple[str, ...]
    output_format: str = "parquet"  # csv/jsonl parts are also stored encoded, ready to concatenate
    errors_format: str | None = None
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    script: ScriptSpec | None = None  # an Azure-form entry script scores instead of a graph


@dataclass(frozen=True)
class ChunkResult:
    index: int
    rows: int
    scored: int
    failed: int


def load_predictor(spec: WorkerSpec) -> Predictor:
    return Predictor.from_path(
        Path(spec.model_path),
        signature=spec.signature,
        features=spec.features,
        class_labels=spec.class_labels,
        config=SessionConfig(
            intra_op_threads=spec.threads,
            inter_op_threads=1,
            optimization=spec.optimization,
            providers=tuple(spec.providers),
        ),
        digest=spec.model_digest,
    )


def load_scorer(spec: WorkerSpec) -> Predictor | ScriptScorer:
    """What scores the chunks: the entry script's process (started on the first chunk), or a
    session of the graph."""
    if spec.script is not None:
        from mlops_cli.batch.script_scorer import ScriptScorer

        return ScriptScorer(spec.script)
    return load_predictor(spec)


_state: dict[str, Any] = {}


def init_worker(spec: WorkerSpec) -> None:
    """Process-pool initialiser: Ctrl-C and SIGTERM are the main process's to handle (it stops
    the pool and marks the job interrupted); load the session once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _state["spec"] = spec
    _state["predictor"] = load_scorer(spec)


def score_in_worker(index: int, file_index: int, start: int, batch: pa.RecordBatch) -> ChunkResult:
    return score_chunk(_state["predictor"], _state["spec"], index, file_index, start, batch)


def score_chunk(
    predictor: Predictor | ScriptScorer,
    spec: WorkerSpec,
    index: int,
    file_index: int,
    start: int,
    batch: pa.RecordBatch,
) -> ChunkResult:
    """Score a chunk and write `parts/<index>.arrow` (and its errors); the part's presence means done.

    With on_error=fail the first bad value raises InputError naming its file, row and column.
    """
    table, errors = score_table(predictor, spec, file_index, start, batch)
    write_part(Path(spec.parts_dir), index, table, errors, spec.output_format, spec.errors_format)
    failed = 0 if errors is None else errors.num_rows
    return ChunkResult(index, batch.num_rows, batch.num_rows - failed, failed)


def score_table(
    predictor: Predictor | ScriptScorer, spec: WorkerSpec, file_index: int, start: int, batch: pa.RecordBatch
) -> tuple[pa.Table, pa.Table | None]:
    """The output rows (passthrough columns, then the model's output columns) of a batch, and
    with on_error=skip the rows that could not be scored (None when every row was). Every engine
    scores through here: the local workers, Spark's Python workers and a Kubernetes shard."""
    if not isinstance(predictor, Predictor):
        return predictor.score_table(spec, file_index, start, batch)
    import numpy as np
    import pyarrow as pa

    where = f"{spec.file_names[file_index]}: "
    rows = batch.num_rows
    try:
        converted = predictor.convert(batch, where)
    except InputError as exc:
        if spec.on_error == "fail":
            raise
        converted = None
        reasons = dict.fromkeys(range(rows), exc.message.removeprefix(where))
        bad = np.ones(rows, dtype=bool)
    else:
        bad, reasons = converted.bad, converted.reasons
    if bad is not None and spec.on_error == "fail":
        first = int(bad.argmax())
        raise InputError(
            f"{where}row {start + first + 1}: {reasons[first]}",
            hint="fix the data, or pass --on-error skip to score the other rows",
            column=converted.bad_columns.get(first) if converted else None,
            row=start + first + 1,
        )
    good = batch if bad is None else batch.filter(pa.array(~bad))
    feeds = converted.good_feeds() if converted is not None else None
    outputs = predictor.run(feeds) if feeds is not None else predictor.run({})
    arrays = [good.column(name) for name in spec.passthrough]
    names = list(spec.passthrough)
    for name, values in outputs.items():
        arrays.append(to_arrow(values))
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    errors = None
    if bad is not None:
        errors = errors_table(batch, bad, reasons, spec, file_index, start)
    return table, errors


def part_path(parts_dir: Path, index: int, kind: str = "scores") -> Path:
    return parts_dir / f"{index:09d}.{kind}.arrow"


def write_part(
    parts_dir: Path,
    index: int,
    table: pa.Table,
    errors: pa.Table | None,
    fmt: str = "parquet",
    errors_fmt: str | None = None,
) -> None:
    """Write errors first and scores last, each via a temp name: scores present = chunk done.

    The Arrow part (schema and row count, and the rows for Parquet output or a schema mismatch)
    is renamed last, after the encoded bytes, so its presence still means the whole chunk is done.
    """
    if errors is not None:
        _write_encoded(part_path(parts_dir, index, "errors"), errors, errors_fmt)
        _write_arrow(part_path(parts_dir, index, "errors"), errors)
    _write_encoded(part_path(parts_dir, index), table, fmt)
    _write_arrow(part_path(parts_dir, index), table)


def _write_encoded(part: Path, table: pa.Table, fmt: str | None) -> None:
    from mlops_cli.batch.encoding import CONCATENATED, encode, encoded_path

    if fmt not in CONCATENATED:
        return
    path = encoded_path(part, fmt)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(encode(table, fmt))
    os.replace(temp, path)


def _write_arrow(path: Path, table: pa.Table) -> None:
    import pyarrow as pa

    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(temp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(temp, path)
