"""Input files to chunks of exactly `batch_size` rows, numbered the same way on every run.

Chunks never span files (a file's last chunk may be short), so chunk `k` is always the same
rows: that is what makes checkpoints, resumption and `--shard I/N` (chunk k goes to shard
k mod N) line up across processes and machines.

CSV and JSON Lines are read with the column types the model needs, which is fast. A value that
does not parse (text in a float column) stops pyarrow's reader; the rest of that file is then
re-read with those columns as text, so the mapping layer can name each bad row and skip it.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.batch.inputs import InputFile
from mlops_cli.csvheader import read_header
from mlops_cli.runtime.mapping import COLUMN_KINDS, InputError

if TYPE_CHECKING:
    import pyarrow as pa

CSV_BLOCK_SIZE = 1 << 20  # the unit pyarrow parses in parallel within a segment
CSV_SEGMENT = 32 << 20
JSON_BLOCK_SIZE = 8 << 20
PARQUET_BUFFER = 1 << 20


@dataclass
class Chunk:
    index: int  # across all files, from 0
    file_index: int
    start: int  # the 0-based row of the file this chunk starts at
    batch: pa.RecordBatch

    @property
    def rows(self) -> int:
        return self.batch.num_rows


def iter_chunks(
    files: list[InputFile], columns: list[str], dtypes: dict[str, str], batch_size: int
) -> Iterator[Chunk]:
    """Chunks of `columns` from every file in order; `dtypes` are the ONNX types the model needs."""
    index = 0
    for file_index, file in enumerate(files):
        start = 0
        for batch in _rebatch(_file_batches(file, columns, dtypes), batch_size):
            yield Chunk(index, file_index, start, batch)
            index += 1
            start += batch.num_rows


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= size:
            table = pa.Table.from_batches(pending)
            yield _one_batch(table.slice(0, size))
            rest = table.slice(size)
            pending = rest.to_batches() if rest.num_rows else []
            held -= size
    if held:
        yield _one_batch(pa.Table.from_batches(pending))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    (batch,) = table.combine_chunks().to_batches()  # never called with zero rows
    return batch


def _arrow_hint(dtype: str, text: bool) -> pa.DataType:
    import pyarrow as pa

    kind = COLUMN_KINDS.get(dtype, "string")
    if text or kind == "string":
        return pa.string()
    return {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}[kind]


def _file_batches(file: InputFile, columns: list[str], dtypes: dict[str, str]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    if file.format == "parquet":
        yield from _parquet_batches(file, columns)
        return
    if file.format == "csv":
        yield from _csv_batches(file, columns, dtypes)
        return
    consumed = 0
    try:
        for batch in _json_batches(file, columns, dtypes, text=False, skip=0):
            consumed += batch.num_rows
            yield batch
    except pa.ArrowInvalid as exc:
        if not _is_conversion_error(exc):
            raise InputError(f"cannot read {file.path.name}: {_first_line(exc)}") from exc
        # Values that do not parse as the model's types: read the rest as text, row by row checks.
        yield from _json_batches(file, columns, dtypes, text=True, skip=consumed)


def _is_conversion_error(exc: Exception) -> bool:
    text = str(exc)
    return any(
        marker in text
        for marker in ("conversion error", "changed from", "Could not convert", "Failed of conversion")
    )


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _source(file: InputFile) -> Any:
    """What pyarrow opens: a local path as it is (pyarrow's own reader), an object as a file."""
    return nullcontext(file.path) if file.url is None else file.open()


def _parquet_batches(file: InputFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer keeps every row group's bytes cached to the end of the file: memory would
        # grow with the input instead of staying at one row group. buffer_size streams each
        # column chunk through a 1 MB buffer instead of reading it whole: -85 MB at 1M rows x 20
        # columns in 2 row groups; a 1M-row x 200-column row group peaked at 2.6 GB RSS read
        # whole, 1.1 GB buffered (and spent less system time zeroing pages).
        with _source(file) as source:
            parquet = pq.ParquetFile(source, pre_buffer=False, buffer_size=PARQUET_BUFFER)
            yield from parquet.iter_batches(batch_size=65_536, columns=columns, use_threads=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read {file.path.name}: {_first_line(exc)}") from exc


def _csv_batches(file: InputFile, columns: list[str], dtypes: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """CSV in segments of whole lines, each parsed by pyarrow's multithreaded reader.

    pyarrow's streaming reader parses on one core; `read_csv` on a segment uses them all while
    memory stays at a segment. A segment whose values do not parse as the model's types is
    parsed again with those columns as text, so the mapping layer can name each bad row.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with file.open() as handle:
        header_line = handle.readline()
        names, delimiter = read_header(header_line.decode("utf-8-sig"))
        read_options = pacsv.ReadOptions(column_names=names, use_threads=True, block_size=CSV_BLOCK_SIZE)
        parse_options = pacsv.ParseOptions(delimiter=delimiter)

        # Other columns (passthrough) take the types inferred from the first segment, so every
        # chunk of the output has the same schema.
        pinned: dict[str, pa.DataType] = {}

        def parse(segment: memoryview, text: bool) -> pa.Table:
            types = {**pinned, **{name: _arrow_hint(dtype, text) for name, dtype in dtypes.items()}}
            convert_options = pacsv.ConvertOptions(
                include_columns=columns, column_types=types, strings_can_be_null=not text
            )
            buffer = pa.py_buffer(segment)
            table = pacsv.read_csv(
                buffer,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            if not pinned:
                for field in table.schema:
                    if field.name not in dtypes and not pa.types.is_null(field.type):
                        pinned[field.name] = field.type
            return table

        if file.url is None:
            views = _segments(handle.fileno(), len(header_line), file.path.name)
        else:
            views = _stream_segments(handle)
        for view in views:
            if _NOT_BLANK.search(view) is None:
                continue
            try:
                table = parse(view, text=False)
            except pa.ArrowInvalid as exc:
                if not _is_conversion_error(exc):
                    raise InputError(f"cannot read {file.path.name}: {_first_line(exc)}") from exc
                try:
                    table = parse(view, text=True)
                except pa.ArrowInvalid as again:  # not even text: bytes that are not UTF-8
                    raise InputError(f"cannot read {file.path.name}: {_first_line(again)}") from again
            yield from table.to_batches()


_NOT_BLANK = re.compile(rb"\S")


def _segments(fd: int, start: int, name: str) -> Iterator[memoryview]:
    """Runs of whole lines of about CSV_SEGMENT bytes from `start` to the end of the file.

    Each run is read with one `preadv` into a buffer reused from run to run (pyarrow's CSV
    parser copies what it keeps, so the buffer is free once a run is parsed). Not a memory
    map: a file truncated while mapped kills the process with SIGBUS when a parser thread
    touches a page past the new end, which no Python code can catch. A read comes back short
    instead, which is a clean InputError. The copy costs about 0.05 s per 400 MB of CSV
    against parsing in place (benchmarks/bench_hardening.py).
    """
    size = os.fstat(fd).st_size
    buffer = bytearray(min(CSV_SEGMENT, max(size - start, 0)))
    position = start
    while position < size:
        want = CSV_SEGMENT
        while True:
            end = min(position + want, size)
            if len(buffer) < end - position:
                buffer = bytearray(end - position)  # a line longer than a segment
            view = memoryview(buffer)[: end - position]
            got = os.preadv(fd, [view], position)
            if got < end - position:
                view.release()
                raise InputError(
                    f"{name} changed while it was being read: it is now {os.fstat(fd).st_size} bytes,"
                    f" but had {size} when the run started",
                    hint="score a file that no other process is writing or truncating",
                )
            if end == size:
                cut = end - position
                break
            cut = buffer.rfind(b"\n", 0, end - position) + 1
            if cut:
                break
            view.release()
            want *= 2  # no line ends within the window: a longer line, read a wider one
        yield view[:cut]
        position += cut


def _stream_segments(handle: Any) -> Iterator[memoryview]:
    """Runs of whole lines of about CSV_SEGMENT bytes from a stream (an object being downloaded)."""
    rest = b""
    while True:
        block = handle.read(CSV_SEGMENT)
        if not block:
            if rest:
                yield memoryview(rest)
            return
        data = rest + block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield memoryview(data)[:cut]
        rest = data[cut:]


def _json_batches(
    file: InputFile, columns: list[str], dtypes: dict[str, str], *, text: bool, skip: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.json as pajson

    if text:
        yield from _json_batches_by_line(file, columns, dtypes, skip)
        return
    fields = [pa.field(name, _arrow_hint(dtypes[name], False)) for name in columns if name in dtypes]
    parse_options = pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="infer")
    read_options = pajson.ReadOptions(use_threads=True, block_size=JSON_BLOCK_SIZE)
    with _source(file) as source:
        reader = pajson.open_json(source, read_options=read_options, parse_options=parse_options)
        for batch in reader:
            missing = [c for c in columns if c not in batch.schema.names]
            if missing:
                batch = _with_null_columns(batch, missing)
            yield batch.select(columns)


def _with_null_columns(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = list(batch.columns) + [pa.nulls(batch.num_rows) for _ in names]
    return pa.RecordBatch.from_arrays(arrays, names=list(batch.schema.names) + names)


def _json_batches_by_line(
    file: InputFile, columns: list[str], dtypes: dict[str, str], skip: int
) -> Iterator[pa.RecordBatch]:
    """The slow, forgiving path: every value as text, so mixed types reach the row checks.

    JSON is typed: a string in a numeric column keeps its quotes (`"1.5"`), so the row check
    refuses it as a string instead of parsing it as CSV text would be (the one value rule).
    """
    import pyarrow as pa

    typed = {c for c in columns if COLUMN_KINDS.get(dtypes.get(c, "string"), "string") != "string"}

    rows: dict[str, list[Any]] = {c: [] for c in columns}
    seen = 0
    with io.TextIOWrapper(file.open(), encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            seen += 1
            if seen <= skip:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{file.path.name}: line {number} is not valid JSON: {exc.msg}") from exc
            for column in columns:
                value = record.get(column) if isinstance(record, dict) else None
                text = json.dumps(value) if column in typed and isinstance(value, str) else value
                rows[column].append(None if text is None else _as_text(text))
            if len(rows[columns[0]]) >= 65_536:
                yield pa.RecordBatch.from_pydict(rows, schema=_text_schema(columns))
                rows = {c: [] for c in columns}
    if rows[columns[0]]:
        yield pa.RecordBatch.from_pydict(rows, schema=_text_schema(columns))


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _text_schema(columns: list[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.string()) for c in columns])
