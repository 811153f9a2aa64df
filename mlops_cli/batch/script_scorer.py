"""Scoring chunks with an Azure-form entry script: the `run()` counterpart of a Predictor.

A chunk's rows go to `run()` the way an online request does: the JSON text
`{"data": [[row], ...]}` (the feature columns in order), which an Azure score.py written for
online endpoints reads unchanged. `run()` returns a list with one item per row (the
`prediction` column) or a dict of such lists (one column per key); a JSON string of either is
parsed first, since Azure scripts often return `json.dumps(...)`.

The script runs in a child process (`script_child`) of the version's environment, started on
the first chunk and kept for the worker's lifetime, so each worker calls `init()` once. With
--on-error skip, a batch whose `run()` raises is split in halves until the failing rows are
found; after MAX_CALLS calls for one chunk the remaining failing parts are skipped whole.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mlops_cli.batch.script_child import INIT_FAILED, OK, read_frame, write_frame
from mlops_cli.errors import MlopsError
from mlops_cli.runtime.mapping import PREDICTION

if TYPE_CHECKING:
    import pyarrow as pa


class WorkerSpec(Protocol):
    """What a scorer reads of batch.worker's WorkerSpec (named here: worker imports this module)."""

    passthrough: tuple[str, ...]
    on_error: str
    file_names: tuple[str, ...]


# run() calls one chunk may take to isolate its failing rows (a chunk of 65,536 rows with one
# bad row needs 33): beyond it a failing part is skipped whole, so a column of garbage costs
# seconds, not one call per row.
MAX_CALLS = 256


class ScriptError(MlopsError):
    """The entry script failed: init() or run() raised, or run() answered in another shape."""

    def __reduce__(self):  # raised in worker processes: keep the hint across
        return (type(self), (self.message, self.hint))


@dataclass(frozen=True)
class ScriptSpec:
    """How to start the script: plain data, so it pickles to a worker process."""

    bundle: str  # the bundle JSON naming the version's files and entry
    script: str  # the script's name, for messages
    columns: tuple[str, ...]  # what each row of `data` holds, in order
    python: str | None = None  # the environment's interpreter; None: this one (--env-manager local)


class ScriptScorer:
    """One child process running the script; `score_table` is `worker.score_table`'s twin."""

    def __init__(self, spec: ScriptSpec) -> None:
        self.spec = spec
        self._process: subprocess.Popen | None = None

    def close(self) -> None:
        """Close the child's stdin (it returns after the batch in hand) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=5)  # the batch in hand is not wanted: do not wait it out
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def _start(self) -> subprocess.Popen:
        from mlops_cli.environments.venvs import isolated_env
        from mlops_cli.pids import die_with_parent

        python = self.spec.python or sys.executable
        try:
            process = subprocess.Popen(
                [python, "-m", "mlops_cli.batch.script_child", self.spec.bundle],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                env=isolated_env() if self.spec.python else None, preexec_fn=die_with_parent,
            )  # fmt: skip
        except OSError as exc:
            raise ScriptError(
                f"cannot start {python} for {self.spec.script}: {exc.strerror or exc}"
            ) from None
        self._process = process
        tag, payload = self._receive("init()")
        if tag == INIT_FAILED:
            self.close()
            raise ScriptError(
                f"{self.spec.script}: {payload}", hint="its traceback is above; the script's init() must load"
            )
        return process

    def _receive(self, doing: str) -> tuple[bytes, str]:
        assert self._process is not None
        frame = read_frame(self._process.stdout)
        if frame is None:
            code = self._process.wait()
            self._process = None
            raise ScriptError(
                f"{self.spec.script}: its process ended (exit code {code}) during {doing}",
                hint="a script must not exit; its output is above",
            )
        return frame[:1], frame[1:].decode("utf-8", errors="replace")

    def call(self, rows: list[Any]) -> tuple[bool, Any]:
        """(True, what run() returned) or (False, why it failed) for these rows."""
        from mlops_cli.serving import jsonio

        process = self._process or self._start()
        try:
            write_frame(process.stdin, b"r", request_body(rows))
        except BrokenPipeError:
            pass  # it died: _receive says so with its exit code
        tag, payload = self._receive("run()")
        if tag != OK:
            return False, payload
        value = jsonio.loads(payload)
        if isinstance(value, str):
            try:
                value = jsonio.loads(value)
            except jsonio.DecodeError:
                pass
        return True, value

    def score_table(
        self, spec: WorkerSpec, file_index: int, start: int, batch: pa.RecordBatch
    ) -> tuple[pa.Table, pa.Table | None]:
        """The output rows (passthrough columns, then run()'s columns) and, with on_error=skip,
        the rows run() failed on (None when it failed on none)."""
        import numpy as np
        import pyarrow as pa

        from mlops_cli.batch.error_rows import errors_table

        where = spec.file_names[file_index]
        rows = rows_of(batch, self.spec.columns)
        pieces: list[pa.Table] = []
        failures: dict[int, str] = {}
        budget = [MAX_CALLS]

        def attempt(low: int, high: int) -> None:
            budget[0] -= 1
            ok, value = self.call(rows[low:high])
            if ok:
                pieces.append(_columns(value, high - low, f"{where}: rows {start + low + 1}-{start + high}"))
                return
            if spec.on_error == "fail":
                raise ScriptError(
                    f"{where}: rows {start + low + 1}-{start + high}: {value}",
                    hint="fix the data or the script, or pass --on-error skip to skip the rows it fails on",
                )
            if high - low == 1 or budget[0] <= 0:
                reason = value if high - low == 1 else f"{value} (in rows {start + low + 1}-{start + high})"
                failures.update(dict.fromkeys(range(low, high), reason))
                return
            middle = (low + high) // 2
            attempt(low, middle)
            attempt(middle, high)

        if rows:
            attempt(0, len(rows))
        bad = np.zeros(len(rows), dtype=bool)
        bad[list(failures)] = True
        good = batch.filter(pa.array(~bad)) if failures else batch
        arrays = [good.column(name) for name in spec.passthrough]
        names = list(spec.passthrough)
        if pieces:
            outputs = pa.concat_tables(pieces, promote_options="permissive")
            arrays += outputs.columns
            names += outputs.column_names
        else:  # no row scored: run()'s columns are unknown
            arrays.append(pa.nulls(good.num_rows))
            names.append(PREDICTION)
        table = pa.Table.from_arrays(arrays, names=names)
        errors = errors_table(batch, bad, failures, spec, file_index, start) if failures else None
        return table, errors


def rows_of(batch: pa.RecordBatch, columns: tuple[str, ...]) -> list[list[Any]]:
    """The batch's rows as lists of `columns`' values, as read (nulls as None)."""
    values = [batch.column(name).to_pylist() for name in columns]
    return [list(row) for row in zip(*values, strict=True)]


def request_body(rows: list[list[Any]]) -> bytes:
    """What run() receives for these rows: Azure's online request, `{"data": [[...], ...]}`."""
    from mlops_cli.serving import jsonio

    return jsonio.dumps({"data": rows})


def _columns(value: Any, rows: int, where: str) -> pa.Table:
    """run()'s answer as columns: a list per row, or a dict of lists each one item per row."""
    import pyarrow as pa

    if isinstance(value, list) and len(value) == rows:
        columns = {PREDICTION: value}
    elif (
        isinstance(value, dict)
        and value
        and all(isinstance(v, list) and len(v) == rows for v in value.values())
    ):
        columns = {str(k): v for k, v in value.items()}
    else:
        got = f"a list of {len(value)} items" if isinstance(value, list) else f"a {type(value).__name__}"
        raise ScriptError(
            f"{where}: run() returned {got} for {rows} rows",
            hint="return a list with one item per row, or a dict of such lists (one output column each)",
        )
    try:
        return pa.table({name: pa.array(items) for name, items in columns.items()})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ScriptError(f"{where}: run()'s answer does not make a column: {exc}") from None
