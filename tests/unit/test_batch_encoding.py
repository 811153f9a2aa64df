"""Encoded parts: the same bytes as encoding the whole table at once, and the CSV segment reader."""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from mlops_cli.batch import readers
from mlops_cli.batch.encoding import csv_header, encode, encode_jsonl, encoded_path
from mlops_cli.batch.inputs import resolve_inputs
from mlops_cli.batch.worker import part_path, write_part
from mlops_cli.batch.writers import assemble


def jsonl_by_row(table: pa.Table) -> bytes:
    """What score-batch wrote before parts were encoded: json.dumps per row dict."""
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in table.to_pylist()]
    return "".join(line + "\n" for line in lines).encode()


def mixed_table(rows: int = 300) -> pa.Table:
    rng = np.random.default_rng(0)
    floats = rng.normal(size=rows) * 1e-7
    floats[:4] = [np.nan, np.inf, -np.inf, 1e300]
    table = pa.table(
        {
            "prediction": pa.array(rng.integers(-5, 5, rows)),
            "proba_0": pa.array(rng.random(rows).astype(np.float32)),
            "f64": pa.array(floats),
            "float_nulls": pa.array([None if i % 3 else i / 7 for i in range(rows)]),
            "int_nulls": pa.array([None if i % 3 else i for i in range(rows)], pa.int32()),
            "text": pa.array([None if i % 5 == 0 else f'é"\\\n%s{i}\u2028\x01' for i in range(rows)]),
            'k%s "q"': pa.array([None if i % 7 == 0 else i % 2 == 0 for i in range(rows)]),
            "nothing": pa.nulls(rows),
            "when": pa.array(
                [datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=i) for i in range(rows)]
            ),
            "money": pa.array([decimal.Decimal("1.25")] * rows),
            "values": pa.array([[1.5, 2.0] if i % 2 else None for i in range(rows)], pa.list_(pa.float64())),
            "category": pa.array(["a", "b"] * (rows // 2)).dictionary_encode(),
            "large": pa.array(["x"] * rows, pa.large_string()),
        }
    )
    return pa.concat_tables([table, table.slice(3, 50)])  # two chunks


def test_jsonl_has_the_values_json_dumps_gives():
    table = mixed_table()
    assert encode_jsonl(table) == jsonl_by_row(table)
    assert encode_jsonl(table.slice(0, 0)) == b""
    repeated = pa.Table.from_arrays([pa.array([1, 2]), pa.array([3.5, None])], names=["a", "a"])
    assert encode_jsonl(repeated) == jsonl_by_row(repeated)


def test_floats_are_written_as_repr_writes_them():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.random(100_000).astype(np.float32).astype(np.float64),
            rng.normal(size=100_000) * 10.0 ** rng.integers(-8, 20, 100_000),
            rng.integers(-(2**40), 2**40, 50_000) / rng.integers(1, 1000, 50_000),
            rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64).view(np.float64),
            [0.0, -0.0, 1.0, 1e-4, 9.999e-5, 1e9, 1e9 - 0.5, 1e16, 1e22, 5e-324, 0.1, 2 / 3],
        ]
    )
    with np.errstate(over="ignore", invalid="ignore"):
        table = pa.table({"x": values, "y": values.astype(np.float32)})
    assert encode_jsonl(table) == jsonl_by_row(table)
    ints = pa.table(
        {"i": pa.array([0, -1, 2**63 - 1, -(2**63), None]), "u": pa.array([2**64 - 1] * 5, pa.uint64())}
    )
    assert encode_jsonl(ints) == jsonl_by_row(ints)


def test_csv_parts_after_the_header_equal_one_writer():
    table = mixed_table().drop(["values"])  # pyarrow's CSV writer has no list type
    sink = pa.BufferOutputStream()
    with pacsv.CSVWriter(sink, table.schema) as writer:
        writer.write_table(table)
    pieces = [table.slice(0, 7), table.slice(7, 0), table.slice(7, 200), table.slice(207)]
    assert (
        csv_header(table.schema) + b"".join(encode(p, "csv") for p in pieces) == sink.getvalue().to_pybytes()
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_assembled_from_encoded_parts_equals_the_rewritten_output(tmp_path, fmt):
    table = pa.table({"id": np.arange(1000), "proba_0": np.linspace(0, 1, 1000, dtype=np.float32)})
    table = table.append_column("note", pa.array([f"n{i}" for i in range(1000)]))
    parts = tmp_path / "parts"
    parts.mkdir()
    for index, start in enumerate(range(0, 1000, 300)):
        write_part(parts, index, table.slice(start, 300), None, fmt)
    paths = [part_path(parts, i) for i in range(4)]
    rows, digest = assemble(paths, tmp_path / f"fast.{fmt}", fmt)
    fast = (tmp_path / f"fast.{fmt}").read_bytes()
    assert rows == 1000 and digest == f"sha256:{hashlib.sha256(fast).hexdigest()}"
    # A checkpoint without encoded parts (written before they existed) is read back and re-encoded.
    for path in paths:
        encoded_path(path, fmt).unlink(missing_ok=True)
    assert assemble(paths, tmp_path / f"slow.{fmt}", fmt) == (rows, digest)
    assert (tmp_path / f"slow.{fmt}").read_bytes() == fast
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_parts_whose_column_types_differ_are_cast_to_the_first(tmp_path, fmt):
    parts = tmp_path / "parts"
    parts.mkdir()
    write_part(parts, 0, pa.table({"id": pa.array(["a", "b"]), "p": [0.5, 0.25]}), None, fmt)
    write_part(parts, 1, pa.table({"id": pa.array([3, 4]), "p": [0.75, 1.0]}), None, fmt)
    rows, _ = assemble([part_path(parts, 0), part_path(parts, 1)], tmp_path / f"o.{fmt}", fmt)
    expected = pa.table({"id": ["a", "b", "3", "4"], "p": [0.5, 0.25, 0.75, 1.0]})
    if fmt == "csv":
        assert rows == 4 and pacsv.read_csv(tmp_path / "o.csv").equals(expected)
    else:
        assert (tmp_path / "o.jsonl").read_bytes() == jsonl_by_row(expected)


def test_csv_segments_cut_at_line_ends_whatever_the_line_lengths(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CSV_SEGMENT", 64)
    lines = ["id,f0,note"]
    for i in range(400):
        note = "x" * (i % 7) if i % 50 else "long" * 60  # some lines longer than a segment
        lines.append(f"{i},{i / 3},{note}")
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n\n")
    (tmp_path / "no-newline.csv").write_text("\n".join(lines))
    for name in ("in.csv", "no-newline.csv"):
        files = resolve_inputs((str(tmp_path / name),))
        chunks = list(readers.iter_chunks(files, ["id", "f0", "note"], {"f0": "double"}, 64))
        table = pa.Table.from_batches([c.batch for c in chunks])
        assert table.column("id").to_pylist() == list(range(400))
        assert table.column("note").to_pylist()[:3] == ["long" * 60, "x", "xx"]
        assert table.column("f0").to_pylist()[3] == 1.0
