"""Tables in: rows of a RecordBatch, Table or mapping converted to a model's feeds.

Conversion never trusts the table: every required column must exist and every value must cast
to the input's element type. `convert()` reports bad rows (so batch scoring can skip them);
`to_feeds()` raises an `InputError` naming the first bad column and row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.runtime.schema import COLUMN_KINDS, NUMPY_TYPES, InputError, ModelSchema
from mlops_cli.runtime.validation import check_numbers
from mlops_cli.runtime.validation import reason as value_reason

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Converted:
    """A table converted to feeds. Rows that could not be converted are listed, not raised."""

    feeds: dict[str, np.ndarray]
    rows: int
    bad: np.ndarray | None = None  # bool mask over rows; None when every row is good
    reasons: dict[int, str] = field(default_factory=dict)  # row index -> first problem found
    bad_columns: dict[int, str] = field(default_factory=dict)  # row index -> the column at fault

    @property
    def failed(self) -> int:
        return 0 if self.bad is None else int(self.bad.sum())

    def good_feeds(self) -> dict[str, np.ndarray]:
        """The feeds with the bad rows left out."""
        if self.bad is None:
            return self.feeds
        keep = ~self.bad
        return {name: value[keep] for name, value in self.feeds.items()}


def _table_columns(table: Any) -> tuple[list[str], Any, int]:
    """Column names, a lookup function and the row count of a RecordBatch/Table or a mapping."""
    if hasattr(table, "schema") and hasattr(table, "num_rows"):
        names = list(table.schema.names)
        return names, table.column, table.num_rows
    if isinstance(table, Mapping):
        names = list(table.keys())
        lengths = {len(v) for v in table.values()}
        if len(lengths) > 1:
            raise InputError(
                "columns have different lengths: " + ", ".join(f"{k}={len(v)}" for k, v in table.items())
            )
        return names, table.__getitem__, lengths.pop() if lengths else 0
    raise InputError(f"cannot score a {type(table).__name__}; give a table or a mapping of columns")


def check_columns(schema: ModelSchema, names: Sequence[str], where: str = "") -> None:
    """Raise InputError naming the first model column the table lacks."""
    present = set(names)
    for column in schema.columns:
        if column not in present:
            shown = ", ".join(list(names)[:12]) + (", ..." if len(names) > 12 else "")
            raise InputError(
                f"{where}missing column {column!r} (the input has: {shown or 'no columns'})",
                hint="rename the column or pass --features to map the model's features to columns",
                column=column,
            )


def convert(schema: ModelSchema, table: Any, where: str = "") -> Converted:
    """Convert a table to the model's feeds, recording rows whose values cannot be used.

    Raises InputError for problems of a whole column (missing, or of a type that can never
    cast, such as a timestamp for a float input) and for a model whose features are unnamed.
    """
    import numpy as np

    if schema.layout == "tensor" and schema.features is None:
        spec = schema.inputs[0]
        raise InputError(
            f"the model's input {spec.name!r} takes {spec.width or 'several'} features whose column"
            " names were not recorded",
            hint="pass --features a,b,c (in training order)",
        )
    names, column_of, rows = _table_columns(table)
    check_columns(schema, names, where)
    bad = np.zeros(rows, dtype=bool)
    reasons: dict[int, str] = {}
    bad_columns: dict[int, str] = {}
    dtypes = schema.column_dtypes()
    converted: dict[str, np.ndarray] = {}
    for column in schema.columns:
        values, problems = _convert_column(
            column_of(column), dtypes[column], column, where, schema.missing_ok
        )
        converted[column] = values
        for index, reason in problems:
            if not bad[index]:
                bad[index] = True
                reasons[index] = f"column {column!r}: {reason}"
                bad_columns[index] = column
    feeds: dict[str, np.ndarray] = {}
    if schema.layout == "tensor":
        spec = schema.inputs[0]
        matrix = np.empty((rows, len(schema.columns)), dtype=NUMPY_TYPES[spec.dtype or "float"])
        for j, column in enumerate(schema.columns):
            matrix[:, j] = converted[column]
        feeds[spec.name] = matrix
    else:
        for spec in schema.inputs:
            values = converted[spec.name]
            if spec.rank == 2:
                values = values.reshape(rows, 1)
            feeds[spec.name] = values
    return Converted(feeds, rows, bad if bad.any() else None, reasons, bad_columns)


def to_feeds(
    schema: ModelSchema, table: Any, *, row_offset: int = 0, where: str = ""
) -> dict[str, np.ndarray]:
    """The model's feeds for every row of `table`, or InputError naming the first bad value.

    Rows are reported 1-based from `row_offset` (the table's first row number minus one), after
    `where` (such as "data.csv: ").
    """
    result = convert(schema, table, where)
    if result.bad is not None:
        first = int(result.bad.argmax())
        raise InputError(
            f"{where}row {row_offset + first + 1}: {result.reasons[first]}",
            hint="fix the data, or pass --on-error skip to score the other rows",
            column=result.bad_columns[first],
            row=row_offset + first + 1,
        )
    return result.feeds


def feeds_from_arrays(schema: ModelSchema, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Ready tensors keyed by input name (for callers that send `{"X": [[...], ...]}`), checked.

    Each is cast to its input's element type; InputError names the first input that is
    missing, unknown, of the wrong width, or holds values that do not cast (and their row).
    """
    import numpy as np

    expected = {spec.name: spec for spec in schema.inputs}
    for name in arrays:
        if name not in expected:
            raise InputError(f"unknown input {name!r} (the model takes: {', '.join(expected)})", column=name)
    feeds: dict[str, np.ndarray] = {}
    for name, spec in expected.items():
        if name not in arrays:
            raise InputError(f"missing input {name!r}", column=name)
        dtype = np.dtype(NUMPY_TYPES[spec.dtype or "float"])
        text = dtype.kind == "O"
        value = np.asarray(arrays[name], dtype=object if text else None)
        if spec.rank is not None and value.ndim != spec.rank:
            if spec.rank == 2 and value.ndim == 1 and spec.width in (None, 1):
                value = value.reshape(-1, 1)
            else:
                raise InputError(
                    f"input {name!r} needs {spec.rank} dimensions, got {value.ndim}", column=name
                )
        if spec.width is not None and value.ndim == 2 and value.shape[1] != spec.width:
            raise InputError(
                f"input {name!r} needs {spec.width} values per row, got {value.shape[1]}", column=name
            )
        if not text:
            try:
                value = value.astype(dtype)
            except (TypeError, ValueError) as exc:
                flat = value.reshape(len(value), -1) if value.ndim else value.reshape(1, 1)
                row = next(i for i, r in enumerate(flat) if not _castable(r, dtype))
                raise InputError(
                    f"input {name!r}, row {row + 1}: values do not cast to {spec.dtype}",
                    column=name,
                    row=row + 1,
                ) from exc
            if dtype.kind == "f" and np.isnan(value).any():
                row = int(np.flatnonzero(np.isnan(value.reshape(len(value), -1)).any(axis=1))[0])
                raise InputError(f"input {name!r}, row {row + 1}: NaN", column=name, row=row + 1)
        feeds[name] = value
    return feeds


def _castable(row: Any, dtype: Any) -> bool:
    import numpy as np

    try:
        np.asarray(row).astype(dtype)
    except (TypeError, ValueError):
        return False
    return True


def _as_arrow(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed Python values (numbers and strings): compare them all as text.
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _convert_column(
    values: Any, dtype: str, column: str, where: str, missing_ok: bool = False
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """A column as a numpy array of the input's type, and (row index, reason) of bad values.

    Numbers follow the one value rule of `runtime.validation` (finite, in range, whole for
    integer inputs, NaN only when the model takes missing values), as in serving.
    """
    import numpy as np
    import pyarrow as pa

    # pyarrow.compute costs a third of a second to import: only the rare paths below use it.
    arr = _as_arrow(values)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    kind = COLUMN_KINDS[dtype]
    target = np.dtype(NUMPY_TYPES[dtype])
    problems: list[tuple[int, str]] = []
    nan_for_missing = missing_ok and kind == "float"
    if arr.null_count and not nan_for_missing:
        nulls = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        problems += [(int(i), "missing value") for i in nulls]
    kind_of = _arrow_kind(arr.type)

    if kind == "string":
        if kind_of not in ("string", "int", "float", "bool", "null"):
            raise _type_error(where, column, arr.type, dtype)
        text = arr if kind_of == "string" else arr.cast(pa.string())
        out = np.asarray(text.fill_null("").to_numpy(zero_copy_only=False), dtype=object)
        return out, problems

    if kind_of in ("float", "int", "null") or (kind_of == "bool" and kind == "bool"):
        numeric = arr
    elif kind_of == "string":
        numeric, parse_problems = _parse_numbers(arr, kind)
        if nan_for_missing:
            parse_problems = [p for p in parse_problems if p[1] not in ("missing value", "NaN")]
        problems += parse_problems
    else:  # a timestamp, or booleans for a numeric input
        raise _type_error(where, column, arr.type, dtype)

    if numeric.null_count:
        numeric = numeric.fill_null(float("nan") if nan_for_missing else 0)
    out = _numpy_of(numeric)
    if kind == "bool":
        if out.dtype.kind == "f":
            nans = np.isnan(out)
            if nans.any():
                problems += [(int(i), "NaN") for i in np.flatnonzero(nans)]
                out = np.where(nans, 0, out)
        if out.dtype.kind != "b":
            invalid = (out != 0) & (out != 1)
            if invalid.any():
                problems += [(int(i), f"{out[i].item()!r} is not a boolean") for i in np.flatnonzero(invalid)]
        problems.sort()
        return out.astype(target, copy=False), problems
    cast, bad = check_numbers(out, dtype, missing_ok=missing_ok)
    if bad is not None:
        known = {i for i, _ in problems}
        problems += [
            (int(i), value_reason(out, int(i), dtype)) for i in np.flatnonzero(bad) if int(i) not in known
        ]
    problems.sort()
    return cast, problems


def _numpy_of(arr: Any) -> np.ndarray:
    """A primitive Arrow array without nulls as numpy, zero-copy.

    `Array.to_numpy()` imports pandas on first use (a third of a second); reading the data
    buffer directly does not.
    """
    import numpy as np
    import pyarrow.types as t

    if arr.null_count == 0 and (t.is_integer(arr.type) or t.is_floating(arr.type)):
        dtype = np.dtype(arr.type.to_pandas_dtype())
        return np.frombuffer(
            arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
        )
    return arr.to_numpy(zero_copy_only=False)


def to_arrow(values: Any) -> Any:
    """An output column as an Arrow array; numeric arrays are wrapped without a copy (and,
    unlike `pa.array`, without importing pandas)."""
    import numpy as np
    import pyarrow as pa

    array = np.asarray(values)
    if array.ndim == 1 and array.dtype.kind in "iuf":
        array = np.ascontiguousarray(array)  # probability columns are strided views
        arrow_type = getattr(pa, array.dtype.name)()  # int64 -> pa.int64(), float32 -> pa.float32()
        return pa.Array.from_buffers(arrow_type, len(array), [None, pa.py_buffer(array)])
    return pa.array(array)


def _arrow_kind(arrow_type: Any) -> str:
    import pyarrow.types as t

    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "float"
    if t.is_integer(arrow_type):
        return "int"
    if t.is_boolean(arrow_type):
        return "bool"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "string"
    if t.is_null(arrow_type):
        return "null"
    return str(arrow_type)


def _type_error(where: str, column: str, arrow_type: Any, dtype: str) -> InputError:
    return InputError(
        f"{where}column {column!r} holds {arrow_type} values, but the model needs {dtype}", column=column
    )


def _parse_numbers(arr: Any, kind: str) -> tuple[Any, list[tuple[int, str]]]:
    """Text to numbers: vectorised when every value parses, else value by value to find the bad ones."""
    import pyarrow as pa

    target = pa.float64() if kind in ("float", "bool") else pa.int64()
    stripped = arr
    try:
        return stripped.cast(target), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed: list[Any] = []
    problems: list[tuple[int, str]] = []
    for index, text in enumerate(arr.to_pylist()):
        if text is None or not text.strip():
            problems.append((index, "missing value"))
            parsed.append(None)
            continue
        try:
            number = float(text) if kind != "int" else int(text.strip())
        except ValueError:
            if kind == "int":
                try:
                    number = float(text)
                except ValueError:
                    number = None
            else:
                number = None
        if number is None:
            problems.append((index, _not_a_number(text)))
        elif isinstance(number, float) and math.isnan(number):
            problems.append((index, "NaN"))
            number = None
        parsed.append(number)
    return pa.array(parsed, type=pa.float64() if kind != "int" else None), problems


def _not_a_number(text: str) -> str:
    """Why a text value is not a number; JSON strings and booleans are named as such."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':  # a JSON string (JSON Lines)
        return f"{_short(stripped[1:-1])} is a string, not a number"
    if stripped in ("true", "false"):
        return f"{stripped} is a boolean, not a number"
    return f"{_short(text)} is not a number"


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
