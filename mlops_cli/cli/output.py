"""The one output object: results to stdout (a rich table or JSON), the rest to stderr.

Colour only on a terminal (rich honours NO_COLOR); progress bars only on a terminal and never
in --json mode, so `mlops ... --json | jq` always works.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def human_size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 file`, `2 files`, `1,200 rows`: a count with its noun agreeing."""
    noun = word if count == 1 else (many or word + "s")
    return f"{count:,} {noun}"


def short_digest(digest: str) -> str:
    algorithm, _, hexdigest = digest.rpartition(":")
    return f"{algorithm or 'sha256'}:{hexdigest[:12]}…"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _fields(value: Any) -> Any:
    """`dataclasses.asdict` without its deep copy of every value, which only JSON reads here
    (a third of `models list --json`'s own time on 500 models)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _fields(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_fields(v) for v in value]
    if isinstance(value, dict):
        return {k: _fields(v) for k, v in value.items()}
    return value


class Output:
    """How a command speaks: `result()` once with its data, `note()`/`warn()` for the rest."""

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self._stdout: Console | None = None
        self._stderr: Console | None = None

    @property
    def stdout(self) -> Console:
        if self._stdout is None:
            from rich.console import Console

            # In a pipe, rich would assume 80 columns and cut digests; give lines room instead.
            width = None if sys.stdout.isatty() else 200
            self._stdout = Console(file=sys.stdout, soft_wrap=True, highlight=False, width=width)
        return self._stdout

    @property
    def stderr(self) -> Console:
        if self._stderr is None:
            from rich.console import Console

            self._stderr = Console(file=sys.stderr, soft_wrap=True, highlight=False)
        return self._stderr

    def result(self, data: Any, human: Callable[[Console], None] | str | None = None) -> None:
        """Print the command's result: JSON in --json mode, else the human rendering."""
        if self.json_mode:
            sys.stdout.write(json.dumps(_jsonable(data), indent=2, sort_keys=False, default=str) + "\n")
            sys.stdout.flush()
        elif callable(human):
            human(self.stdout)
        elif human is not None:
            # Plain text as it is: rich would only cost its import and turn `:name:` into emoji.
            sys.stdout.write(human + "\n")
            sys.stdout.flush()

    def note(self, text: str) -> None:
        """A diagnostic for people: stderr, and silent in --json mode."""
        if not self.json_mode:
            self.stderr.print(text, markup=False)

    def warn(self, text: str) -> None:
        """A warning: always on stderr, since scripts should see it in their logs too."""
        sys.stderr.write(f"warning: {text}\n")

    @property
    def interactive(self) -> bool:
        return not self.json_mode and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"

    @contextmanager
    def task(
        self, description: str, total: float | None, unit: str = "bytes"
    ) -> Iterator[Callable[[float], None]]:
        """A progress bar on a terminal (ProgressSink); nothing in --json mode or in a pipe.

        `unit="rows"` shows a row count and rows/s instead of sizes and bytes/s.
        """
        if not self.interactive:
            yield lambda amount: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if unit == "rows":
            columns += [
                TextColumn("{task.completed:,.0f} rows"),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
            ]
        else:
            columns += [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=self.stderr, transient=True) as bar:
            task_id = bar.add_task(description, total=total, rate="")
            if unit != "rows":
                yield lambda amount: bar.advance(task_id, amount)
                return

            def advance_rows(amount: float) -> None:
                bar.advance(task_id, amount)
                speed = bar.tasks[task_id].speed
                bar.update(task_id, rate=f"{speed:,.0f} rows/s" if speed else "")

            yield advance_rows
