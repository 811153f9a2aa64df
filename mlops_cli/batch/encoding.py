"""A table to the bytes of a CSV or JSON Lines output, the same bytes whether encoded whole or in parts.

Both formats concatenate: a part encoded without the CSV header, appended after the header, gives
the file one writer would have written. So each chunk is encoded once, as it is scored, and the
output is assembled by copying bytes. JSON Lines is encoded column by column (one `repr` per value,
one string format per row) instead of `json.dumps` per row dict, with the values `json.dumps` gives:
integers stay integers, floats are `repr`ed (NaN/Infinity as Python's json writes them), strings
are escaped the same way; any other type goes through `json.dumps` value by value, as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

# Formats whose parts are stored encoded and concatenated at the end; Parquet is re-written.
CONCATENATED = ("csv", "jsonl")
_ROWS_PER_STEP = 65_536  # bounds the Python strings alive at once while encoding JSON Lines
_escape = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) uses for str


def encode(table: pa.Table, fmt: str) -> bytes:
    """The rows of `table` in `fmt` ("csv" without its header, or "jsonl")."""
    if fmt == "csv":
        return _csv_body(table)
    if fmt == "jsonl":
        return encode_jsonl(table)
    raise ValueError(f"{fmt} parts are not concatenated")


def encoded_path(part: Path, fmt: str) -> Path:
    """Where the Arrow part `part` is also kept as `fmt` bytes (CSV without header, JSON Lines)."""
    return part.with_suffix(f".{fmt}")


def csv_header(schema: pa.Schema) -> bytes:
    """The header line pyarrow's CSV writer puts first for `schema` (nothing else)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    writer = pacsv.CSVWriter(sink, schema)
    writer.write_table(pa.Table.from_batches([], schema=schema))  # not empty_table(): it imports pandas
    writer.close()
    return sink.getvalue().to_pybytes()


def header(schema: pa.Schema, fmt: str) -> bytes:
    return csv_header(schema) if fmt == "csv" else b""


def _csv_body(table: pa.Table) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes()


def encode_jsonl(table: pa.Table) -> bytes:
    """One JSON object per row, keys in column order, as `json.dumps(row, ensure_ascii=False)`."""
    names = table.schema.names
    if not names or len(set(names)) != len(names):
        return _jsonl_by_row(table)
    pieces = ["{"] + [", "] * (len(names) - 1)
    template = "".join(
        (piece + _escape(name) + ": ").replace("%", "%%") + "%s"
        for piece, name in zip(pieces, names, strict=True)
    )
    template += "}"
    out: list[bytes] = []
    for start in range(0, table.num_rows, _ROWS_PER_STEP):
        part = table.slice(start, _ROWS_PER_STEP)
        columns = [_json_values(part.column(i)) for i in range(part.num_columns)]
        lines = list(map(template.__mod__, zip(*columns, strict=True)))
        out.append(("\n".join(lines) + "\n").encode())
    return b"".join(out)


def _jsonl_by_row(table: pa.Table) -> bytes:
    """The general path (no columns, or repeated names): what a row dict gives, row by row."""
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _json_values(column: Any) -> list[str]:
    """Every value of one column as its JSON text."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_float32(kind) or pa.types.is_float64(kind):
        return _json_floats(column)
    if pa.types.is_integer(kind):
        return _nulls_as_null(_as_text(column))  # Arrow's decimal digits are int.__repr__'s
    values = column.to_pylist()
    nulls = column.null_count > 0
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _map_nullable(_escape, values, nulls)
    if pa.types.is_boolean(kind):
        return ["null" if v is None else ("true" if v else "false") for v in values]
    if pa.types.is_null(kind):
        return ["null"] * len(values)
    return [json.dumps(v, ensure_ascii=False, default=str) for v in values]


def _json_floats(column: Any) -> list[str]:
    """`float.__repr__` of each value, mostly computed by Arrow.

    Arrow's float to text is the shortest round-trip form, as `repr`; the two differ only in
    notation: Arrow writes 1.0 as "1" and switches to exponents at other magnitudes. Between 1e-4
    and 1e9, for values with a fraction, both write the same plain decimal digits (18 million
    random values checked when this was written; tests/unit/test_batch_encoding.py checks more
    on every run); every other value (and NaN, infinities, nulls) goes through `repr` as before.
    """
    import numpy as np
    import pyarrow as pa

    values = np.asarray(column.to_numpy(), dtype=np.float64)  # float32 widened, as to_pylist does
    text = np.asarray(_as_text(pa.array(values)), dtype=object)
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        same = (size >= 1e-4) & (size < 1e9) & (values != np.floor(values))
    if column.null_count:
        same &= ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    other = np.flatnonzero(~same)
    if len(other):
        text[other] = [_json_float(v) for v in values[other].tolist()]
        if column.null_count:
            nulls = np.flatnonzero(np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool))
            text[nulls] = "null"
    return text.tolist()


def _as_text(column: Any) -> list[str | None]:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(column, pa.string()).to_pylist()


def _nulls_as_null(values: list[str | None]) -> list[str]:
    return ["null" if v is None else v for v in values]


def _map_nullable(function: Callable[[Any], str], values: list[Any], nulls: bool) -> list[str]:
    if not nulls:
        return list(map(function, values))
    return ["null" if v is None else function(v) for v in values]


def _json_float(value: float | None) -> str:
    if value is None:
        return "null"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


__all__ = ["CONCATENATED", "csv_header", "encode", "encode_jsonl", "encoded_path", "header"]
