"""The requests a profile sends to an Azure-form entry script: `POST /score` with the rows
`score-batch` would hand its `run()`, `{"data": [[...], ...]}`.

A script's inputs are whatever its `run()` reads, so nothing can be synthesised from a
signature: the rows come from `--data PATH`, else from the first dataset recorded with the
version (`register --dataset`), its sample of real inputs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    from mlops_cli.domain import ModelVersion
    from mlops_cli.profile.request import ProfileRequest
    from mlops_cli.store import Store

MAX_ROWS = 10_000  # as for an ONNX model's --data


@dataclass
class ScriptRows:
    """Rows for `run()` and where they came from (the shape `ProfileData` has for a graph)."""

    values: list[list[Any]]
    rows: int
    source: str

    def http_request(self, model_name: str, size: int) -> tuple[str, bytes]:
        """`/score` and a body of `size` rows (the first ones, cycled when there are fewer)."""
        from mlops_cli.batch.script_scorer import request_body

        batch = [self.values[i % self.rows] for i in range(size)]
        return "/score", request_body(batch)


def script_rows(store: Store, version: ModelVersion, data: Path | None) -> ScriptRows:
    """Up to MAX_ROWS rows of `data`, or of the version's first recorded dataset, every column
    in the file's order. UsageError when there is neither, or the file holds no rows."""
    if data is not None:
        return _read(data, f"file {data}")
    if not version.datasets:
        raise UsageError(
            f"{version.ref} runs its entry script's run(), whose input only the script knows: give"
            " rows to send it",
            hint="pass --data PATH (CSV, Parquet or JSON Lines), or register the version with --dataset",
        )
    record = version.datasets[0]
    store.paths.tmp.mkdir(parents=True, exist_ok=True)
    copy = store.paths.tmp / f"profile-{os.getpid()}-{secrets.token_hex(3)}{Path(record.path).suffix}"
    try:
        store.objects.materialise(record.digest, record.size, copy, 0o600)
        return _read(copy, f"dataset {record.path} recorded with {version.ref}")
    finally:
        copy.unlink(missing_ok=True)


def over_http(request: ProfileRequest, ref: str) -> ProfileRequest:
    """An entry script's run() is measured in its server only (`/score`, workers swept): there
    is no graph to call in this process. UsageError when only in-process points were asked."""
    if "http" not in request.modes:
        raise UsageError(
            f"{ref} runs its entry script's run() in its server: it is profiled over HTTP",
            hint="use --mode http (or all)",
        )
    return replace(request, modes=("http",))


def build_environment(store: Store, version: ModelVersion, note: Callable[[str], None]) -> None:
    """Build the version's environment (once, cached) before any server waits for it."""
    from mlops_cli.environments.venvs import environment_for, envs_dir

    environment_for(envs_dir(store), version.entry, notify=note)


def _read(path: Path, source: str) -> ScriptRows:
    from mlops_cli.batch.inputs import check_same_columns, resolve_inputs
    from mlops_cli.batch.readers import iter_chunks
    from mlops_cli.batch.script_scorer import rows_of

    files = resolve_inputs((str(path),))
    if len(files) != 1:
        raise UsageError(f"--data {path} names {len(files)} files; give one file")
    columns = check_same_columns(files)
    chunk = next(iter_chunks(files, list(columns), {}, MAX_ROWS), None)
    if chunk is None or chunk.rows == 0:
        raise UsageError(f"{source} holds no rows")
    return ScriptRows(rows_of(chunk.batch, tuple(columns)), chunk.rows, source)
