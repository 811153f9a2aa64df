"""Finished parts to the final output file: written under a temp name beside it, then renamed.

Parts are Arrow IPC files of one chunk each; assembling them in chunk order gives the same bytes
whether the run was interrupted or not, since every part is the same and so is the order.

For CSV and JSON Lines a part also holds its rows already encoded (`encoding.py`), so the output
is the header plus those bytes copied in order, hashed as they are copied. When the parts'
column types differ (passthrough columns typed differently by two input files) or an encoded part
is missing (a checkpoint from before encoded parts existed), the parts are read back, cast to
one schema and re-encoded, as they always were.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_cli import storage
from mlops_cli.batch.encoding import CONCATENATED, encode_jsonl, encoded_path, header
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.hashing import sha256_file

if TYPE_CHECKING:
    import pyarrow as pa

COPY_BUFFER = 8 << 20


def check_writable(path: Path, what: str) -> None:
    """Create the folder of `path` if needed and prove a file can be created in it."""
    folder = path.parent
    try:
        if path.is_dir():
            raise UsageError(f"{what} {path} is a folder", hint="name a file, or pass --output-format")
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".{path.name}.mlops-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write {what} in {folder}: {exc.strerror or exc}") from exc


def check_output(output: Path | str, what: str) -> None:
    """A local output's folder is created and proven writable; an object's bucket and access."""
    if isinstance(output, str):
        storage.check_writable(output, what)
    else:
        check_writable(output, what)


def write_output(parts: list[Path], output: Path | str, fmt: str, staging: Path) -> tuple[int, str, int]:
    """Assemble the parts into the output (an object is assembled in `staging`, then published
    as one object); returns the rows, the sha256 and the size in bytes."""
    if not isinstance(output, str):
        rows, digest = assemble(parts, output, fmt)
        return rows, digest, output.stat().st_size
    local = staging / f"output.{fmt}"
    rows, digest = assemble(parts, local, fmt)
    size = local.stat().st_size
    storage.publish(local, output)
    local.unlink()
    return rows, digest, size


def read_part(path: Path) -> pa.Table:
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise MlopsError(
            f"checkpoint part {path.name} is unreadable: {exc}", hint="start a new run without --resume"
        ) from exc


def _tables(paths: list[Path]) -> Iterator[pa.Table]:
    """The parts in order, cast to the schema of the first part holding rows. An empty part whose
    schema differs is left out: it adds no row, and it may not know the columns (an entry
    script's chunk whose rows all failed names none of run()'s)."""
    target = None
    empty: list[pa.Table] = []
    for path in paths:
        table = read_part(path)
        if target is None and table.num_rows == 0:
            empty.append(table)
            continue
        target = target or table.schema
        if table.num_rows == 0 and table.schema != target:
            continue
        yield _cast(table, target)
    if target is None:  # no part holds a row
        for table in empty:
            yield _cast(table, empty[0].schema)


def _cast(table: pa.Table, target: pa.Schema) -> pa.Table:
    if table.schema == target:
        return table
    try:
        return table.cast(target)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a failed cast
        raise MlopsError(
            f"column types differ between chunks ({table.schema} vs {target}): {exc}",
            hint="give the passthrough columns one type in every input file",
        ) from exc


def assemble(paths: list[Path], output: Path, fmt: str) -> tuple[int, str]:
    """Write the parts, in order, to `output`; return the rows written and the file's sha256."""
    temp = output.parent / f".{output.name}.mlops-{os.getpid()}-{secrets.token_hex(3)}.tmp"
    try:
        if fmt in CONCATENATED and (encoded := _encoded_parts(paths, fmt)) is not None:
            schema, rows, sources = encoded
            digest = _concatenate(header(schema, fmt), sources, temp)
        else:
            rows, digest = _rewrite(paths, temp, fmt)
        os.replace(temp, output)
    except OSError as exc:
        raise MlopsError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        temp.unlink(missing_ok=True)
    return rows, digest


def _encoded_parts(paths: list[Path], fmt: str) -> tuple[pa.Schema, int, list[Path]] | None:
    """(schema, rows, encoded files) when every part is encoded with one schema; else None."""
    import pyarrow as pa

    schema, rows, sources = None, 0, []
    for path in paths:
        source = encoded_path(path, fmt)
        if not source.exists():
            return None
        try:
            with pa.memory_map(str(path)) as handle:
                reader = pa.ipc.open_file(handle)
                if schema is None:
                    schema = reader.schema
                elif reader.schema != schema:
                    return None
                rows += sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
        except (pa.ArrowInvalid, OSError) as exc:
            raise MlopsError(
                f"checkpoint part {path.name} is unreadable: {exc}", hint="start a new run without --resume"
            ) from exc
        sources.append(source)
    return (schema, rows, sources) if schema is not None else None


def _concatenate(head: bytes, sources: list[Path], target: Path) -> str:
    """Write `head` then every source's bytes to `target`; the sha256 of what was written."""
    hasher = hashlib.sha256(head)
    buffer = bytearray(COPY_BUFFER)
    view = memoryview(buffer)
    with open(target, "wb") as sink:
        sink.write(head)
        for source in sources:
            with open(source, "rb", buffering=0) as handle:
                while n := handle.readinto(buffer):
                    hasher.update(view[:n])
                    sink.write(view[:n])
    return f"sha256:{hasher.hexdigest()}"


def _rewrite(paths: list[Path], temp: Path, fmt: str) -> tuple[int, str]:
    """Read every part back and write it in `fmt` (Parquet, or mixed column types)."""
    rows = 0
    tables = _tables(paths)
    first = next(tables)
    with _Writer(temp, fmt, first.schema) as write:
        for table in _chain(first, tables):
            write(table)
            rows += table.num_rows
    return rows, sha256_file(temp)[0]


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


class _Writer:
    """A context manager yielding `write(table)` for one output format."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.path, self.fmt, self.schema = path, fmt, schema

    def __enter__(self):
        import pyarrow as pa

        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self._sink = pq.ParquetWriter(str(self.path), self.schema)
            return lambda table: self._sink.write_table(table, row_group_size=max(table.num_rows, 1))
        if self.fmt == "csv":
            import pyarrow.csv as pacsv

            self._sink = pacsv.CSVWriter(str(self.path), self.schema)
            return self._sink.write_table
        self._sink = pa.OSFile(str(self.path), "wb")
        return self._write_jsonl

    def _write_jsonl(self, table: pa.Table) -> None:
        self._sink.write(encode_jsonl(table))

    def __exit__(self, *exc: object) -> None:
        self._sink.close()
