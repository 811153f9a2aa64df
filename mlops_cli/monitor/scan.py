"""One streamed pass over input files: each chunk's columns handed to per-column accumulators.

Files are read only through `batch/readers.py` (chunks of a bounded number of rows, so memory
stays flat whatever the input size) and the model runs only through `runtime/`: its predictions
are added to each chunk as more columns (`prediction`, `proba_<class>`), so predictions are
summarised exactly like features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.batch.inputs import InputFile, check_same_columns, resolve_inputs
from mlops_cli.batch.readers import iter_chunks
from mlops_cli.domain import ProgressSink
from mlops_cli.errors import MissingDependencyError, UsageError
from mlops_cli.runtime.mapping import InputError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from mlops_cli.runtime.predictor import Predictor

NUMERIC = "numeric"
CATEGORICAL = "categorical"
# Rows per chunk: the Parquet reader's own batch size, so chunks pass through without copies.
CHUNK_ROWS = 65_536
COLLECTOR_COLUMNS = ("ts", "request_id", "row", "endpoint", "model", "model_version")


def require() -> None:
    """numpy, pyarrow and scipy, or MissingDependencyError naming the extra."""
    import importlib.util

    for module in ("numpy", "pyarrow", "scipy"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(module, "monitor")


@dataclass
class Table:
    """Input files with their shared columns and the kind of each column."""

    files: list[InputFile]
    columns: list[str]
    kinds: dict[str, str]
    extra_filter: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None
    filter_columns: tuple[str, ...] = ()  # what `extra_filter` reads
    rows: int = field(default=0)
    # A column read under another name than the files give it: {name: the files' name}
    renames: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"files": [f.to_dict() for f in self.files], "rows": self.rows}


def open_table(paths: tuple[str, ...], categorical: set[str] | frozenset[str] = frozenset()) -> Table:
    """Resolve the paths (files, folders, globs) and find each column's kind.

    Parquet columns take their kind from the schema; CSV and JSON Lines columns from the types
    pyarrow infers on the first megabyte. Strings and booleans are categorical, numbers numeric,
    and `categorical` names columns to treat as categories whatever their type.
    """
    require()
    files = resolve_inputs(paths)
    columns = check_same_columns(files)
    unknown = sorted(set(categorical) - set(columns))
    if unknown:
        raise UsageError(f"--categorical names columns the data lacks: {', '.join(unknown)}")
    types = _arrow_types(files[0], columns)
    kinds = {}
    for name in columns:
        kinds[name] = CATEGORICAL if name in categorical or not _is_number(types.get(name)) else NUMERIC
    return Table(files, columns, kinds)


def _is_number(arrow_type: pa.DataType | None) -> bool:
    import pyarrow as pa

    if arrow_type is None or pa.types.is_null(arrow_type):
        return True  # empty in the sample: numbers are the likelier guess; text says so later
    return (
        pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    )


def _arrow_types(file: InputFile, columns: list[str]) -> dict[str, pa.DataType]:
    """Each column's type: Parquet's schema, or what the reader infers on the first chunk of a
    CSV or JSON Lines file (the reader pins those types for the rest of the file)."""
    if file.format == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(file.path)
        return {name: schema.field(name).type for name in columns}
    first = next(iter_chunks([file], columns, {}, 1), None)
    if first is None:
        return {}
    return {field.name: field.type for field in first.batch.schema}


def reader_dtypes(table: Table, model_dtypes: dict[str, str]) -> dict[str, str]:
    """The types the reader parses CSV/JSON columns as: the model's for its inputs, else by kind."""
    dtypes = {name: ("double" if kind == NUMERIC else "string") for name, kind in table.kinds.items()}
    dtypes.update({k: v for k, v in model_dtypes.items() if k in dtypes and table.kinds[k] == NUMERIC})
    return dtypes


def chunks(
    table: Table, columns: list[str], model_dtypes: dict[str, str], predictor: Predictor | None
) -> Iterator[dict[str, Any]]:
    """Each chunk as {column: pyarrow array or numpy array}, predictions included."""
    dtypes = reader_dtypes(table, model_dtypes)
    read = list(dict.fromkeys(columns + (list(predictor.schema.columns) if predictor else [])))
    if table.extra_filter is not None and table.filter_columns:
        read = list(dict.fromkeys(read + list(table.filter_columns)))
    from mlops_cli.batch.pipeline import prefetch

    back = {stored: name for name, stored in table.renames.items()}
    if back:
        read = [table.renames.get(c, c) for c in read]
        dtypes = {table.renames.get(c, c): dtype for c, dtype in dtypes.items()}
    # The next chunks are read in a thread while this one is counted (pyarrow frees the GIL).
    for chunk in prefetch(iter_chunks(table.files, read, dtypes, CHUNK_ROWS)):
        batch = chunk.batch
        if back:
            batch = batch.rename_columns([back.get(n, n) for n in batch.schema.names])
        if table.extra_filter is not None:
            batch = table.extra_filter(batch)
            if batch.num_rows == 0:
                continue
        data: dict[str, Any] = {name: batch.column(name) for name in columns if name in batch.schema.names}
        if predictor is not None:
            data.update(predict(predictor, batch, f"{table.files[chunk.file_index].path.name}: "))
        yield data


def predict(predictor: Predictor, batch: pa.RecordBatch, where: str) -> dict[str, np.ndarray]:
    """The model's outputs per row; a row the model cannot score (a missing or bad input value)
    gets a missing output, so it counts in the outputs' missing rate instead of stopping the
    check: production data has missing values, and that is when monitoring matters most."""
    import numpy as np

    try:
        converted = predictor.convert(batch, where)
    except InputError:  # no row of the chunk converts (a column of the wrong type)
        converted = None
    if converted is not None and converted.bad is None:
        return predictor.run(converted.feeds)
    good = np.zeros(batch.num_rows, dtype=bool) if converted is None else ~converted.bad
    outputs = predictor.run(converted.good_feeds() if converted is not None else {})
    return {name: _spread(values, good) for name, values in outputs.items()}


def _spread(values: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Outputs of the good rows placed at their rows; the others missing (NaN, or None)."""
    import numpy as np

    if values.dtype.kind == "f":
        spread = np.full(good.size, np.nan, dtype=values.dtype)
    else:
        spread = np.full(good.size, None, dtype=object)
    spread[good] = values
    return spread


def as_float(name: str, values: Any) -> np.ndarray:
    """A column as float64 with NaN for missing values; InputError for text in a numeric column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            raise InputError(f"column {name!r} holds text; name it in --categorical to compare categories")
        return values.astype("float64", copy=False)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            values = pc.cast(values, pa.float64())
        except pa.ArrowInvalid as exc:
            raise InputError(
                f"column {name!r} holds text ({str(exc).splitlines()[0]})",
                hint="name it in --categorical to compare it as categories",
            ) from exc
    elif not pa.types.is_floating(values.type):
        try:
            values = pc.cast(values, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"column {name!r} of type {values.type} is not numeric",
                hint="name it in --categorical to compare it as categories",
            ) from exc
    return values.to_numpy(zero_copy_only=False)


def as_arrow(values: Any) -> Any:
    """A column as a pyarrow array (model outputs come as numpy arrays)."""
    import numpy as np
    import pyarrow as pa

    if isinstance(values, np.ndarray):
        return pa.array(values.tolist() if values.dtype == object else values)
    return values


def feed(
    accumulators: dict[str, Any], kinds: dict[str, str], data: dict[str, Any], pool: ThreadPoolExecutor
) -> int:
    """Give each accumulator its column of one chunk, in parallel (numpy's sort frees the GIL)."""

    def one(name: str) -> None:
        values = data[name]
        if kinds[name] == NUMERIC:
            accumulators[name].update(as_float(name, values))
        else:
            accumulators[name].update(as_arrow(values))

    names = [n for n in accumulators if n in data]
    for future in [pool.submit(one, name) for name in names]:
        future.result()
    first = next(iter(data.values()), None)
    return 0 if first is None else len(first)


def read_into(
    table: Table,
    accumulators: dict[str, Any],
    kinds: dict[str, str],
    predictor: Predictor | None,
    pool: ThreadPoolExecutor,
    progress: ProgressSink,
    label: str,
) -> int:
    """One pass over the table feeding each accumulator its column (the model's outputs too,
    when a predictor is given); returns the row count, also kept as `table.rows`."""
    model_dtypes = predictor.schema.column_dtypes() if predictor is not None else {}
    columns = [c for c in accumulators if c in table.columns]
    all_kinds = {**table.kinds, **kinds}
    rows = 0
    with progress.task(f"reading the {label} data", None, unit="rows") as advance:
        for data in chunks(table, columns, model_dtypes, predictor):
            n = feed(accumulators, all_kinds, data, pool)
            rows += n
            advance(n)
    table.rows = rows
    return rows


def prediction_kinds(predictor: Predictor) -> dict[str, str]:
    """The model's output columns and their kinds: labels categorical, scores numeric."""
    from mlops_cli.runtime.mapping import PREDICTION, output_columns

    names = output_columns(predictor.schema) or [PREDICTION]
    kinds = {}
    for name in names:
        label = name == PREDICTION and (
            predictor.schema.label_output is not None or predictor.schema.proba_output is not None
        )
        kinds[name] = CATEGORICAL if label else NUMERIC
    return kinds


def worker_pool() -> ThreadPoolExecutor:
    import os

    return ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="mlops-monitor")
