"""What a batch scoring run was asked to do, validated before any data is read."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError

FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
ON_ERROR = ("fail", "skip")
DEFAULT_BATCH_SIZE = 65_536


def format_of(path: Path, what: str = "input") -> str:
    """csv, parquet or jsonl from a file's extension; UsageError for anything else."""
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {what} {path} from its extension",
            hint="use .csv, .parquet (.pq) or .jsonl (.ndjson)",
        )
    return fmt


def parse_shard(text: str | None) -> tuple[int, int]:
    """`I/N` to (I, N) with 0 <= I < N; None means the whole input (0/1)."""
    if text is None:
        return 0, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"--shard {text!r} is not I/N", hint="for example --shard 0/4 for the first of four")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {text!r} needs 0 <= I < N", hint="shards are numbered from 0: 0/4 ... 3/4")
    return index, count


def parse_columns(text: str | list[str] | None) -> tuple[str, ...]:
    """`a,b,c` (or a repeated option) to a tuple of column names, blanks dropped."""
    if not text:
        return ()
    parts = text if isinstance(text, list) else [text]
    names = [name.strip() for part in parts for name in part.split(",") if name.strip()]
    return tuple(names)


@dataclass(frozen=True)
class ScoreRequest:
    """A batch scoring run as the user described it."""

    model: str
    inputs: tuple[str, ...]
    output: Path | str  # a str is an object-storage URL (mlops_cli/storage/)
    output_format: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = 1
    threads_per_worker: int = 0
    features: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    on_error: str = "fail"
    errors_output: Path | None = None
    shard: tuple[int, int] = (0, 1)
    optimization: str = "all"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)  # chosen by runtime.providers
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    max_error_rate: float | None = None  # with skip: the share of rows allowed to fail

    def validate(self) -> ScoreRequest:
        if not self.inputs:
            raise UsageError("give at least one --input (a file, a folder or a glob)")
        if self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.workers < 1:
            raise UsageError("--workers must be at least 1")
        if self.threads_per_worker < 0:
            raise UsageError("--threads-per-worker must be 0 (automatic) or more")
        if self.on_error not in ON_ERROR:
            raise UsageError(f"--on-error must be one of {', '.join(ON_ERROR)}, not {self.on_error!r}")
        if self.errors_output is not None and self.on_error != "skip":
            raise UsageError("--errors-output needs --on-error skip")
        if self.max_error_rate is not None:
            if self.on_error != "skip":
                raise UsageError("--max-error-rate needs --on-error skip")
            if not 0 <= self.max_error_rate <= 1:
                raise UsageError(f"--max-error-rate must be between 0 and 1, not {self.max_error_rate:g}")
        if self.output_format is not None and self.output_format not in FORMATS:
            raise UsageError(f"--output-format must be one of {', '.join(FORMATS)}")
        repeated = {c for c in self.passthrough if self.passthrough.count(c) > 1}
        if repeated:
            raise UsageError(f"--passthrough repeats {', '.join(sorted(repeated))}")
        return self

    @property
    def session_threads(self) -> int:
        """Threads per session: as asked, else the cores shared out between the workers."""
        if self.threads_per_worker:
            return self.threads_per_worker
        return max(1, (os.cpu_count() or 1) // self.workers)

    def output_target(self) -> tuple[Path | str, str]:
        """The output file (a Path, or an object's URL) and its format; a folder (or a URL
        ending in /) gets `scores[-I-of-N].<format>` inside it."""
        from mlops_cli import storage

        if isinstance(self.output, str):
            if storage.is_folder(self.output):
                fmt = self.output_format or "parquet"
                return storage.join(self.output, self.output_name(fmt)), fmt
            return self.output, self.output_format or format_of(Path(self.output), "output")
        output = self.output.expanduser().absolute()
        is_folder = output.is_dir() or str(self.output).endswith(("/", os.sep))
        if is_folder:
            fmt = self.output_format or "parquet"
            return output / self.output_name(fmt), fmt
        return output, self.output_format or format_of(output, "output")

    def output_name(self, fmt: str) -> str:
        index, count = self.shard
        stem = "scores" if count == 1 else f"scores-{index}-of-{count}"
        return f"{stem}.{fmt}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        data["errors_output"] = str(self.errors_output) if self.errors_output else None
        return data
