"""Input paths, folders and globs to an ordered list of files, their columns checked alike.

The order is part of the result: chunks are numbered across files in this order, so a resumed
run and every shard must see the same list (sorted by path, whatever the shell's glob order).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.batch.request import _SUFFIXES, format_of
from mlops_cli.errors import MlopsError, NotFoundError, UsageError
from mlops_cli.runtime.mapping import InputError


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str
    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "size": self.size}


def resolve_inputs(patterns: tuple[str, ...]) -> list[InputFile]:
    """Every file named by the patterns, each once, in sorted order within a pattern.

    A folder contributes its .csv/.parquet/.jsonl files (not recursively); a glob its matches.
    Raises NotFoundError when a pattern matches nothing.
    """
    seen: set[Path] = set()
    files: list[InputFile] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
            if not matches:
                raise NotFoundError(f"folder {pattern} holds no .csv, .parquet or .jsonl files")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern)) if Path(p).is_file())
            if not matches:
                raise NotFoundError(f"no files match {pattern}")
        else:
            raise NotFoundError(f"input {pattern}: no such file or folder")
        for match in matches:
            absolute = match.absolute()
            if absolute in seen:
                continue
            seen.add(absolute)
            stat = absolute.stat()
            files.append(InputFile(absolute, format_of(absolute), stat.st_size, stat.st_mtime_ns))
    return files


def columns_of(file: InputFile) -> list[str]:
    """The column names of a file, read from its header (CSV), footer (Parquet) or first line."""
    if file.size == 0:
        raise InputError(f"{file.path.name} is empty", hint="remove it from the inputs")
    try:
        if file.format == "csv":
            with open(file.path, newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(io.StringIO(handle.readline())), [])
            if not header:
                raise InputError(f"{file.path.name} has no header line")
            return header
        if file.format == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(file.path).names)
        with open(file.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise InputError(f"{file.path.name}: line 1 is not a JSON object")
                    return list(record)
        raise InputError(f"{file.path.name} is empty", hint="remove it from the inputs")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {file.path.name}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - pyarrow's ArrowInvalid for a file that is not Parquet
        if type(exc).__name__ in ("ArrowInvalid", "ArrowIOError"):
            raise InputError(f"{file.path.name} is not a readable Parquet file: {exc}") from exc
        raise


def check_same_columns(files: list[InputFile]) -> list[str]:
    """The columns shared by all files; InputError naming the first file that differs.

    Parquet files must also agree on types, since their types are not inferred per chunk.
    """
    first = columns_of(files[0])
    first_types = _parquet_types(files[0])
    for file in files[1:]:
        columns = columns_of(file)
        if columns != first:
            missing = [c for c in first if c not in columns]
            extra = [c for c in columns if c not in first]
            detail = "; ".join(
                part
                for part in (
                    f"lacks {', '.join(missing)}" if missing else "",
                    f"adds {', '.join(extra)}" if extra else "",
                    "orders them differently" if not missing and not extra else "",
                )
                if part
            )
            raise InputError(
                f"input files have different schemas: {file.path.name} {detail} (compared with"
                f" {files[0].path.name})",
                hint="score files of each schema in a separate run",
            )
        types = _parquet_types(file)
        if first_types and types and types != first_types:
            differing = [c for c in first_types if types.get(c) != first_types[c]]
            raise InputError(
                f"input files have different schemas: column {differing[0]!r} is"
                f" {types.get(differing[0])} in {file.path.name} but {first_types[differing[0]]} in"
                f" {files[0].path.name}"
            )
    return first


def _parquet_types(file: InputFile) -> dict[str, str] | None:
    if file.format != "parquet":
        return None
    import pyarrow.parquet as pq

    schema = pq.read_schema(file.path)
    return {name: str(schema.field(name).type) for name in schema.names}


def check_output_is_not_an_input(output: Path, files: list[InputFile], what: str = "--output") -> None:
    for file in files:
        if output.absolute() == file.path or (output.exists() and output.resolve() == file.path.resolve()):
            raise UsageError(f"{what} {output} is also an input; it would be overwritten")


class Hasher:
    """sha256 of the inputs in a background thread (hashlib releases the GIL), while scoring runs."""

    def __init__(self, files: list[InputFile]) -> None:
        self.files = files
        self.digests: dict[Path, str] = {}
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mlops-input-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for file in self.files:
                hasher = hashlib.sha256()
                with open(file.path, "rb") as handle:
                    while chunk := handle.read(8 * 1024 * 1024):
                        hasher.update(chunk)
                self.digests[file.path] = f"sha256:{hasher.hexdigest()}"
        except OSError as exc:
            self.error = exc

    def result(self) -> dict[Path, str]:
        self._thread.join()
        if self.error is not None:
            raise MlopsError(f"cannot read an input while hashing it: {self.error}")
        return self.digests
