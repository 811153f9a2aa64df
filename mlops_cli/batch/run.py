"""The domain function behind `mlops score-batch`: plan, resume, score, assemble, record."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlops_cli import limits
from mlops_cli.audit.provenance import provenance
from mlops_cli.batch.checkpoint import JobFolder, new_job_id, plan_key
from mlops_cli.batch.inputs import (
    Hasher,
    InputFile,
    check_output_is_not_an_input,
    check_same_columns,
    resolve_inputs,
)
from mlops_cli.batch.pipeline import prefetch, run_pool, shard_todo, warm_workers
from mlops_cli.batch.readers import Chunk, iter_chunks
from mlops_cli.batch.records import (
    KIND,
    abandon,
    failure_recorded,
    jobs_for_output,
    matching_job,
    request_from_details,
    require,
    unfinished_job,
)
from mlops_cli.batch.request import ScoreRequest, format_of
from mlops_cli.batch.script_scorer import ScriptSpec
from mlops_cli.batch.script_version import resolve_for_batch, script_schema, with_environment
from mlops_cli.batch.worker import (
    WorkerSpec,
    load_scorer,
    part_path,
    score_chunk,
)
from mlops_cli.batch.writers import assemble, check_output, check_writable, write_output
from mlops_cli.domain import Job, NoProgress, ProgressSink
from mlops_cli.errors import CheckFailedError, UsageError
from mlops_cli.runtime.loader import ResolvedModel
from mlops_cli.runtime.mapping import (
    PREDICTION,
    InputError,
    ModelSchema,
    check_columns,
    schema_from_signature,
)
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store

# A chunk index no real chunk has: the zero-row part that gives an empty shard its columns.
EMPTY_PART = 999_999_999


def score_batch(
    store: Store,
    request: ScoreRequest | None,
    *,
    resume: bool = False,
    job_id: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    progress: ProgressSink | None = None,
    env_manager: str = "virtualenv",
) -> Job:
    """Score the inputs with a registered ONNX model, or an Azure-form entry script's run() (in
    its environment, per `env_manager`), and write the output; return the job record.

    With `job_id`, continue that job with its recorded options (only `workers` and
    `threads_per_worker` may change). With `resume`, continue the latest unfinished job with
    the same plan, or start one. Raises UsageError/NotFoundError for bad options and references,
    InputError for bad data, and leaves the checkpoint in place on failure or interrupt.
    """
    from mlops_cli.environments.venvs import check_env_manager

    progress = progress or NoProgress()
    check_env_manager(env_manager)
    require("pyarrow", "numpy", "onnxruntime")
    previous: Job | None = None
    if job_id is not None:
        previous = unfinished_job(store, job_id)
        request = ScoreRequest(**request_from_details(previous.details["request"]))
        resume = True
    assert request is not None
    if workers is not None:
        request = replace(request, workers=workers)
    if threads_per_worker is not None:
        request = replace(request, threads_per_worker=threads_per_worker)
    request.validate()
    limits.check_processes("--workers", request.workers)
    limits.check_threads("--threads-per-worker", request.threads_per_worker)
    if request.workers > 1:
        warm_workers()  # its imports overlap the checks below

    model, script = resolve_for_batch(store, request.model)
    if previous is not None and previous.model_digest != model.digest:
        raise UsageError(f"{request.model} no longer names the version job {previous.id} started with")
    files = resolve_inputs(request.inputs)
    output, fmt = request.output_target()
    errors_output, errors_fmt = _errors_target(request)
    schema = _schema(model, request) if script is None else script_schema(files, request)
    check_inputs(files, schema, request, output, errors_output)
    check_output(output, "--output")
    if errors_output is not None:
        check_writable(errors_output, "--errors-output")

    plan = _plan(model, files, request, output, fmt, errors_output)
    key = plan_key(plan)
    if previous is None and resume:
        previous = matching_job(store, key)
        if previous is None:
            # Unfinished jobs writing this output whose inputs changed can never be resumed.
            for stale in jobs_for_output(store, str(output)):
                abandon(store, stale, "its inputs or options changed; a new run replaced it", request)
    if previous is not None and previous.details.get("plan_key") != key:
        abandoned = abandon(store, previous, "its inputs or options changed since it started", request)
        raise UsageError(
            f"job {previous.id} cannot be resumed: its inputs or options changed since it started"
            + ("; it is marked abandoned and its parts are removed" if abandoned else ""),
            hint="start a new run without --resume",
        )

    if previous is not None and threads_per_worker is None and previous.details.get("session_threads"):
        # Tree ensembles sum in an order that depends on the thread count: keep the first run's,
        # so the resumed output is byte-for-byte the uninterrupted one whatever --workers says.
        request = replace(request, threads_per_worker=previous.details["session_threads"])

    if script is not None:  # after every check: building an environment takes a while
        script = with_environment(store, model, script, schema, env_manager, progress)
    prov = provenance(request.message)
    folder = JobFolder(store.paths.jobs / (previous.id if previous else new_job_id()))
    if previous is None:
        folder.create(plan)
    folder.lock()  # before the record says "running": a second resume of the same job stops here
    started = time.monotonic()
    try:
        with failure_recorded(store, folder.root.name, prov):  # interrupted (resumable) or failed
            job = _start_record(store, folder, previous, model, key, request, output, plan, prov)
            counts = score_into_parts(folder, model, schema, files, request, progress, script=script)
            errors_digest = None
            if errors_output is not None:  # written even when the check below fails: it says why
                _, errors_digest = _assemble_errors(
                    folder, counts["chunks"], errors_output, errors_fmt, request
                )
            check_error_rate(folder, counts, request)
            parts = _part_paths(folder, counts["chunks"])
            rows, output_digest, size = write_output(parts, output, fmt, folder.root)
            digests = counts["hasher"].result()
    finally:
        folder.unlock()
    details = {
        "output": {"path": str(output), "format": fmt, "sha256": output_digest, "rows": rows, "size": size},
        "errors_output": (
            {"path": str(errors_output), "sha256": errors_digest, "rows": counts["failed"]}
            if errors_output
            else None
        ),
        "inputs": [{**f.to_dict(), "sha256": digests.get(f.path)} for f in files],
        "rows_read": counts["rows"],
        "rows_scored": counts["scored"],
        "rows_failed": counts["failed"],
        "chunks": len(counts["chunks"]),
        "chunks_resumed": counts["resumed"],
        "shard": f"{request.shard[0]}/{request.shard[1]}",
        "workers": request.workers,
        "session_threads": request.session_threads,
        "providers": list(request.providers),
        "entry_script": (
            {"script": script.script, "columns": list(script.columns), "python": script.python}
            if script is not None
            else None
        ),
        "duration_s": round(time.monotonic() - started, 3),
        "error": None,
    }
    job = job_store.finish_job(store.conn, job.id, "completed", details, prov)
    folder.remove()  # a completed job cannot be resumed: no plan, lock or parts stay behind
    return job


def _start_record(
    store: Store,
    folder: JobFolder,
    previous: Job | None,
    model: ResolvedModel,
    key: str,
    request: ScoreRequest,
    output: Path | str,
    plan: dict[str, Any],
    prov: Any,
) -> Job:
    """A new job row (`score-batch.start` event), or the resumed one set back to running."""
    if previous is not None:
        resumed = previous.details.get("resumed", 0) + 1
        return job_store.finish_job(store.conn, previous.id, "running", {"resumed": resumed}, prov)
    details = {
        "plan_key": key,
        "request": request.to_dict(),
        "output": str(output),
        "inputs": plan["inputs"],
        "session_threads": request.session_threads,
    }
    return job_store.create_job(store.conn, folder.root.name, KIND, model.ref, model.digest, details, prov)


def check_error_rate(folder: JobFolder, counts: dict[str, Any], request: ScoreRequest) -> None:
    """With --on-error skip: CheckFailedError (exit 5) when no row could be scored, or when more
    than --max-error-rate of the rows failed. No output is written then; the parts stay, so
    `--resume` with another --max-error-rate reuses them."""
    read, failed = counts["rows"], counts["failed"]
    if not failed:
        return
    limit = request.max_error_rate
    if counts["scored"] and (limit is None or failed / read <= limit):
        return
    first = _first_error(folder, counts["chunks"])
    what = f"{failed:,} of {read:,} rows could not be scored"
    if limit is None:
        message = f"no row could be scored: {what}"
    else:
        message = f"{what} ({failed / read:.2%}, more than --max-error-rate {limit:g})"
    hint = f"the first: {first}" if first else None
    if request.errors_output is None:
        hint = (f"{hint}; " if hint else "") + "--errors-output PATH lists every skipped row"
    raise CheckFailedError(message + "; no output was written", hint=hint)


def _first_error(folder: JobFolder, chunks: list[int]) -> str | None:
    import pyarrow as pa

    for chunk in chunks:
        path = part_path(folder.parts, chunk, "errors")
        if path.exists():
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            if table.num_rows:
                return f"{table.column('file')[0]}: row {table.column('row')[0]}: {table.column('error')[0]}"
    return None


def _errors_target(request: ScoreRequest) -> tuple[Path | None, str | None]:
    if request.errors_output is None:
        return None, None
    path = request.errors_output.expanduser().absolute()
    return path, format_of(path, "--errors-output")


def _schema(model: ResolvedModel, request: ScoreRequest) -> ModelSchema:
    return schema_from_signature(model.signature, request.features or None)


def check_inputs(
    files: list[InputFile],
    schema: ModelSchema,
    request: ScoreRequest,
    output: Path | str,
    errors_output: Path | None,
) -> None:
    """The inputs agree with each other, the model and the options (every engine checks this)."""
    check_output_is_not_an_input(output, files)
    if errors_output is not None:
        check_output_is_not_an_input(errors_output, files, "--errors-output")
        if errors_output == output:
            raise UsageError("--errors-output must differ from --output")
    columns = check_same_columns(files)
    if schema.layout == "tensor" and schema.features is None:
        raise UsageError(
            f"model input {schema.inputs[0].name!r} takes {schema.inputs[0].width or 'several'} features"
            " whose column names were not recorded",
            hint="pass --features a,b,c (in training order)",
        )
    check_columns(schema, columns, where=f"{files[0].path.name}: ")
    for name in request.passthrough:
        if name not in columns:
            raise UsageError(f"--passthrough column {name!r} is not in {files[0].path.name}")
        if name == PREDICTION or name.startswith("proba_") or name in {o.name for o in schema.outputs}:
            raise UsageError(f"--passthrough column {name!r} would clash with an output column")


def _plan(
    model: ResolvedModel,
    files: list[InputFile],
    request: ScoreRequest,
    output: Path | str,
    fmt: str,
    errors_output: Path | None,
) -> dict[str, Any]:
    return {
        "model": model.digest,
        "inputs": [f.identity() for f in files],
        "output": str(output),
        "format": fmt,
        "errors_output": str(errors_output) if errors_output else None,
        "batch_size": request.batch_size,
        "shard": list(request.shard),
        "features": list(request.features),
        "passthrough": list(request.passthrough),
        "on_error": request.on_error,
    }


def score_into_parts(
    folder: JobFolder,
    model: ResolvedModel,
    schema: ModelSchema,
    files: list[InputFile],
    request: ScoreRequest,
    progress: ProgressSink,
    *,
    script: ScriptSpec | None = None,
) -> dict[str, Any]:
    """Score every chunk of this shard that has no part yet; return the counts over all its parts.
    With `script`, the entry script's run() scores the chunks instead of the graph."""
    folder.clean_temp_files()
    done = folder.done_chunks()
    spec = WorkerSpec(
        model_path=str(model.model_path),
        model_digest=model.model_digest,
        signature=model.signature,
        features=request.features or None,
        class_labels=schema.class_labels,
        threads=request.session_threads,
        optimization=request.optimization,
        providers=request.providers,
        passthrough=request.passthrough,
        on_error=request.on_error,
        parts_dir=str(folder.parts),
        file_names=tuple(f.path.name for f in files),
        output_format=request.output_target()[1],
        errors_format=_errors_target(request)[1],
        script=script,
    )
    hasher = Hasher(files)
    columns = list(dict.fromkeys([*schema.columns, *request.passthrough]))
    index, count = request.shard
    mine: list[int] = []
    first_chunk: Chunk | None = None
    total = _total_rows(files, count)
    with progress.task(f"scoring with {model.ref}", total, unit="rows") as advance:
        chunks = prefetch(iter_chunks(files, columns, schema.column_dtypes(), request.batch_size))
        todo = shard_todo(chunks, index, count, done, mine, advance)
        if request.workers == 1:
            predictor = load_scorer(spec)
            try:
                for chunk in todo:
                    first_chunk = first_chunk or chunk
                    result = score_chunk(
                        predictor, spec, chunk.index, chunk.file_index, chunk.start, chunk.batch
                    )
                    advance(result.rows)
            finally:
                predictor.close()  # an entry script's process
        else:
            first_chunk = run_pool(spec, request.workers, todo, advance)
    if not mine:
        _empty_part(folder, spec, files, columns, schema, request.batch_size, first_chunk)
        mine = [EMPTY_PART]
    counts = {"rows": 0, "scored": 0, "failed": 0, "chunks": mine, "resumed": len(set(mine) & done)}
    for chunk_index in mine:
        scored = _part_rows(part_path(folder.parts, chunk_index))
        failed = _part_rows(part_path(folder.parts, chunk_index, "errors"))
        counts["rows"] += scored + failed
        counts["scored"] += scored
        counts["failed"] += failed
    counts["hasher"] = hasher
    return counts


def _empty_part(
    folder: JobFolder,
    spec: WorkerSpec,
    files: list[InputFile],
    columns: list[str],
    schema: ModelSchema,
    batch_size: int,
    first: Chunk | None,
) -> None:
    """A zero-row part so that a shard with no chunks still writes a file with the right columns."""
    if first is None:
        first = next(iter_chunks(files, columns, schema.column_dtypes(), batch_size), None)
    if first is None:
        raise InputError("the input has no rows", hint="check the input files: they hold headers only")
    score_chunk(load_scorer(spec), spec, EMPTY_PART, first.file_index, 0, first.batch.slice(0, 0))


def _part_paths(folder: JobFolder, chunks: list[int]) -> list[Path]:
    return [part_path(folder.parts, k) for k in chunks]


def _part_rows(path: Path) -> int:
    if not path.exists():
        return 0
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))


def _assemble_errors(
    folder: JobFolder, chunks: list[int], output: Path, fmt: str, request: ScoreRequest
) -> tuple[int, str]:
    paths = [p for k in chunks if (p := part_path(folder.parts, k, "errors")).exists()]
    if not paths:
        import pyarrow as pa

        names = ["file", "row", *request.passthrough, "error"]
        empty = pa.table({n: pa.array([], type=pa.int64() if n == "row" else pa.string()) for n in names})
        placeholder = part_path(folder.parts, EMPTY_PART + 1, "errors")
        from mlops_cli.batch.worker import _write_arrow

        _write_arrow(placeholder, empty)
        paths = [placeholder]
    return assemble(paths, output, fmt)


def _total_rows(files: list[InputFile], shards: int) -> int | None:
    if shards != 1 or any(f.format != "parquet" or f.url for f in files):
        return None
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f.path).metadata.num_rows for f in files)


__all__ = ["KIND", "score_batch"]
