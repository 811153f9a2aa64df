"""Input paths, folders and globs to an ordered list of files, their columns checked alike.

The order is part of the result: chunks are numbered across files in this order, so a resumed
run and every shard must see the same list (sorted by path, whatever the shell's glob order).
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlops_cli import storage
from mlops_cli.batch.request import _SUFFIXES, format_of
from mlops_cli.csvheader import read_header
from mlops_cli.errors import MlopsError, NotFoundError, UsageError
from mlops_cli.runtime.mapping import InputError


@dataclass(frozen=True)
class InputFile:
    path: Path  # for an object: bucket/key, so messages can name `path.name` alike
    format: str
    size: int
    mtime_ns: int
    url: str | None = None  # set for an object in object storage
    version: str | None = None  # the object's ETag/generation: what changes when it does

    def open(self, *, peek: bool = False) -> BinaryIO:
        """The file's bytes, from disk or from object storage. `peek`: only a header or a first
        line will be read (an object's body is then not streamed)."""
        if self.url is None:
            return open(self.path, "rb")
        return storage.open_input(self.url, self.size, self.version, peek=peek)

    @property
    def location(self) -> str:
        return self.url or str(self.path)

    def identity(self) -> dict[str, Any]:
        """What the plan key holds: a changed file (or object) makes a different job."""
        if self.url is not None:
            return {"path": self.url, "size": self.size, "version": self.version}
        return {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns}

    def to_dict(self) -> dict[str, Any]:
        data = {"path": self.location, "format": self.format, "size": self.size}
        if self.url is not None:
            data["version"] = self.version
        return data


def resolve_inputs(patterns: tuple[str, ...]) -> list[InputFile]:
    """Every file named by the patterns, each once, in sorted order within a pattern.

    A folder contributes its .csv/.parquet/.jsonl files (not recursively); a glob its matches.
    Raises NotFoundError when a pattern matches nothing.
    """
    seen: set[Path] = set()
    files: list[InputFile] = []
    for pattern in patterns:
        pattern = storage.local_path(pattern)
        if storage.is_url(pattern):
            for remote in storage.list_inputs(pattern, tuple(_SUFFIXES)):
                if Path(remote.url) in seen:
                    continue
                seen.add(Path(remote.url))
                name = Path(remote.url.split("://", 1)[1])
                files.append(
                    InputFile(name, format_of(name), remote.size, 0, url=remote.url, version=remote.version)
                )
            continue
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
        elif path.exists():  # a device, a pipe, a socket: nothing with a table's size to read
            raise UsageError(f"input {pattern}: not a regular file or folder (write the data to a file)")
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


def csv_delimiter(file: InputFile) -> str:
    """The delimiter a CSV input's header line uses (csvheader.py's rule)."""
    try:
        with file.open(peek=True) as handle:
            return read_header(handle.readline().decode("utf-8-sig"))[1]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file.path.name}: {exc}") from exc


def columns_of(file: InputFile) -> list[str]:
    """The column names of a file, read from its header (CSV), footer (Parquet) or first line."""
    if file.size == 0:
        raise InputError(f"{file.path.name} is empty", hint="remove it from the inputs")
    try:
        if file.format == "csv":
            with file.open(peek=True) as handle:
                line = handle.readline().decode("utf-8-sig")
            header, _ = read_header(line)
            if not header:
                raise InputError(f"{file.path.name} has no header line")
            return header
        if file.format == "parquet":
            import pyarrow.parquet as pq

            with file.open() as handle:
                return list(pq.read_schema(handle).names)
        with io.TextIOWrapper(file.open(peek=True), encoding="utf-8") as handle:
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

    with file.open() as handle:
        schema = pq.read_schema(handle)
    return {name: str(schema.field(name).type) for name in schema.names}


def check_output_is_not_an_input(output: Path | str, files: list[InputFile], what: str = "--output") -> None:
    if isinstance(output, str):
        if any(file.url == output for file in files):
            raise UsageError(f"{what} {output} is also an input; it would be overwritten")
        return
    for file in files:
        if file.url is not None:
            continue
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
                if file.url is not None:
                    continue  # an object is identified by its version (ETag), not downloaded twice
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
