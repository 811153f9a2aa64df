"""The rows a parity check runs on: read from a file, fitted to the model, or synthesised.

Order of preference: `--sample`, then the datasets recorded at registration, then rows made up
from what the model says about its inputs (with a warning: real data finds more problems).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_cli.convert.base import InputSpec, Rows, require
from mlops_cli.csvheader import read_header
from mlops_cli.errors import MlopsError, UsageError

if TYPE_CHECKING:
    pass

MAX_ROWS = 10_000  # enough to find threshold ties, small enough to stay quick
SYNTHETIC_ROWS = 256
SUFFIXES = (".csv", ".parquet", ".pq", ".npy")


def read_rows(path: Path, label: str, suffix: str | None = None) -> Rows:
    """Read CSV (with a header), Parquet or NPY rows, at most MAX_ROWS of them."""
    suffix = (suffix or path.suffix).lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{label}: cannot read {suffix or 'this'} files", hint="use CSV, Parquet or NPY")
    np = require("numpy", "onnx")
    try:
        if suffix == ".csv":
            return _read_csv(path, label)
        if suffix in (".parquet", ".pq"):
            parquet = require("pyarrow.parquet", "data", "pyarrow")
            table = parquet.read_table(path).slice(0, MAX_ROWS)
            return Rows(
                label, {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
            )
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read rows from {label}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for broken files
        if type(exc).__module__.startswith("pyarrow"):
            raise UsageError(f"cannot read rows from {label}: {exc}") from exc
        raise
    array = array[:MAX_ROWS]
    if array.dtype.names:
        return Rows(label, {n: array[n] for n in array.dtype.names})
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return Rows(label, array=array)


def _read_csv(path: Path, label: str) -> Rows:
    import numpy as np

    with open(path, newline="", encoding="utf-8-sig") as handle:
        header, delimiter = read_header(handle.readline())
        reader = csv.reader(handle, delimiter=delimiter)
        if not header:
            raise UsageError(f"{label} is empty", hint="a CSV sample needs a header row")
        records = []
        for record in reader:
            if len(record) != len(header):
                raise UsageError(
                    f"{label}: line {reader.line_num + 1} has {len(record)} fields, not {len(header)}"
                )
            records.append(record)
            if len(records) >= MAX_ROWS:
                break
    if not records:
        raise UsageError(f"{label} has a header but no rows")
    columns = {}
    for i, name in enumerate(header):
        raw = [r[i] for r in records]
        try:
            columns[name.strip()] = np.array([float(v) if v.strip() else np.nan for v in raw])
        except ValueError:
            columns[name.strip()] = np.array(raw, dtype=object)
    return Rows(label, columns)


def fit_rows(rows: Rows, spec: InputSpec, features: list[str] | None) -> Rows:
    """Pick and order the columns the model takes; extra columns (a target, ids) are dropped.

    Raises UsageError when the rows cannot feed the model (missing columns, wrong width).
    """
    names = spec.feature_names or features
    if rows.columns is not None and names:
        rows = _match_renamed(rows, names)
        missing = [n for n in names if n not in rows.columns]
        if missing:
            raise UsageError(
                f"{rows.source} lacks the column(s) {', '.join(missing)} that the model takes",
                hint=f"it has {', '.join(rows.columns)}; the model takes {', '.join(names)}",
            )
        rows = Rows(rows.source, {n: rows.columns[n] for n in names})
    width = len(rows.columns) if rows.columns is not None else _row_size(rows)
    expected = spec.n_features
    if spec.kind == "tensor" and spec.shape and all(d is not None for d in spec.shape):
        expected = 1
        for dim in spec.shape:
            expected *= dim
    if expected is not None and width != expected:
        what = "columns" if rows.columns is not None else "values per row"
        raise UsageError(
            f"{rows.source} has {width} {what} but the model takes {expected}",
            hint="pass --features a,b,c to choose the columns" if rows.columns is not None else None,
        )
    if len(rows) == 0:
        raise UsageError(f"{rows.source} has no rows")
    return rows


def _normal(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _match_renamed(rows: Rows, names: list[str]) -> Rows:
    """Rename columns the model knows under a sanitised name (LightGBM turns spaces into _)."""
    if all(n in rows.columns for n in names):
        return rows
    by_normal = {_normal(c): c for c in rows.columns}
    renames = {}
    for name in names:
        if name not in rows.columns and by_normal.get(_normal(name)) not in (None, *names):
            renames[by_normal[_normal(name)]] = name
    if not renames:
        return rows
    return Rows(rows.source, {renames.get(k, k): v for k, v in rows.columns.items()})


def _row_size(rows: Rows) -> int:
    return int(rows.array[0].size) if len(rows) else 0


def synthesise(spec: InputSpec, features: list[str] | None, n: int = SYNTHETIC_ROWS) -> Rows:
    """Rows drawn from a standard normal (seed 0); text columns cycle through known values."""
    import numpy as np

    rng = np.random.default_rng(0)
    if spec.kind == "tensor":
        shape = tuple(d or 1 for d in (spec.shape or (spec.n_features or 1,)))
        return Rows("synthesised", array=rng.standard_normal((n, *shape)))
    names = spec.feature_names or features
    if names is None:
        if spec.n_features is None:
            raise UsageError(
                "the model does not say how many features it takes, and there is no sample",
                hint="pass --sample PATH or --features a,b,c",
            )
        names = [f"f{i}" for i in range(spec.n_features)]
    columns = {}
    for name in names:
        if name in spec.string_columns:
            values = spec.string_columns[name] or ["a"]
            columns[name] = np.array([values[i % len(values)] for i in range(n)], dtype=object)
        else:
            columns[name] = rng.standard_normal(n)
    return Rows("synthesised", columns)


def choose_rows(
    spec: InputSpec,
    *,
    sample: Path | None,
    datasets: list[tuple[str, Path]],
    features: list[str] | None,
    warn: Callable[[str], None],
) -> Rows:
    """The rows for the parity check, fitted to the model (see the module docstring)."""
    if sample is not None:
        if not sample.is_file():
            raise UsageError(f"sample {sample}: no such file")
        return fit_rows(read_rows(sample, f"sample {sample}"), spec, features)
    for label, path in datasets:
        try:
            return fit_rows(read_rows(path, label, Path(label).suffix), spec, features)
        except MlopsError as exc:
            warn(f"not using {label} for the parity check: {exc.message}")
    warn(
        f"no --sample and no usable dataset recorded with the model: checking parity on {SYNTHETIC_ROWS} "
        "synthesised rows (standard normal values); real rows are a far better check"
    )
    return synthesise(spec, features)
