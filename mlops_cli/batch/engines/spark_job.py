"""`score-batch --engine spark` as a job of the store: resolved, checked, run, recorded.

The job is a `score-batch` job like a local one (same start event, same final details plus
`engine` and `spark`); it is not resumable (Spark retries failed tasks itself, and a rerun
starts over), and an interrupted run leaves no output (the folder is renamed in only at the end).

An object-storage output (`s3://...`): Spark's own S3A connector needs the hadoop-aws jars and
an AWS SDK bundle, which pyspark does not ship and an offline machine cannot fetch. So Spark
writes the part files to a staging folder in the store (`.mlops/tmp/`, on the driver's machine:
the executors must reach it, as for any local output), and the finished folder is published
through mlops_cli/storage/ under the URL as a prefix, `_SUCCESS` last (storage/prefixes.py).
Object-storage inputs, for the same reason, are downloaded first to a staging folder beside it
and Spark reads the copies, unless the Spark configuration given sets up S3A itself (hadoop-aws
in `spark.jars.packages`/`spark.jars`, or any `spark.hadoop.fs.s3a.*`): then Spark reads them
as `s3a://` URLs where they are, which a cluster on other machines needs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from mlops_cli import storage
from mlops_cli.audit.provenance import provenance
from mlops_cli.batch.checkpoint import new_job_id
from mlops_cli.batch.engines.spark import ModelFiles, SparkOptions, check_environment, run_job
from mlops_cli.batch.inputs import InputFile, resolve_inputs
from mlops_cli.batch.records import KIND, failure_recorded, require
from mlops_cli.batch.request import ScoreRequest, format_of
from mlops_cli.batch.run import check_inputs
from mlops_cli.batch.writers import check_writable
from mlops_cli.domain import Job
from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.hashing import sha256_file
from mlops_cli.runtime.loader import resolve_onnx
from mlops_cli.runtime.mapping import schema_from_signature
from mlops_cli.storage import prefixes
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store


def score_with_spark(store: Store, request: ScoreRequest, options: SparkOptions) -> Job:
    """Score the inputs in a Spark job and record it; returns the completed job.

    Raises UsageError for options Spark does not take, SparkJobError (exit 4) when Spark cannot
    run it, InputError for bad data with --on-error fail; the output is then left as it was.
    """
    require("pyarrow", "numpy", "onnxruntime")
    request.validate()
    _refuse_local_only(request)
    check_environment(options)
    model = resolve_onnx(store, request.model)
    files = resolve_inputs(request.inputs)
    given = request.output
    prefix = None
    if isinstance(given, str):  # object storage: staged here, published as a prefix
        prefix = given.rstrip("/")
        fmt = request.output_format or (
            format_of(Path(prefix), "output") if Path(prefix).suffix else "parquet"
        )
    else:
        output, fmt = request.output_target()
        if (given / "_SUCCESS").exists():  # an earlier Spark output: replace it
            output = given.expanduser().absolute()
            fmt = request.output_format or format_of(output, "output")
    schema = schema_from_signature(model.signature, request.features or None)
    check_inputs(files, schema, request, prefix or output, None)
    staging = None
    if prefix is not None:
        storage.check_writable(prefix, "--output")  # the bucket and credentials, before Spark starts
        staging = _staging(store)
        output = staging / "output"
    else:
        check_writable(output.with_name(f".{output.name}.probe"), "--output")  # a folder Spark fills
    prov = provenance(request.message)
    details = {
        "engine": "spark",
        "spark": options.to_dict(),
        "request": request.to_dict(),
        "output": str(output),
        "inputs": [f.identity() for f in files],
    }
    job_id = new_job_id()
    started = time.monotonic()
    relative = str(model.model_path.relative_to(model.root))
    files_of_model = ModelFiles(model.ref, model.root, relative, model.model_digest, model.signature)
    try:
        with failure_recorded(store, job_id, prov):
            job = job_store.create_job(store.conn, job_id, KIND, model.ref, model.digest, details, prov)
            read = files
            if any(f.url for f in files) and not s3a_configured(options):
                staging = staging or _staging(store)
                read = stage_inputs(files, staging / "inputs")
            counts = run_job(options, files_of_model, schema, request, read, output, fmt)
            if counts["failed"] and not counts["scored"]:
                raise MlopsError(f"no row could be scored: {counts['failed']:,} of {counts['rows']:,} failed")
            written = {
                "path": prefix or str(output),
                "format": fmt,
                "sha256": folder_digest(output),
                "rows": counts["scored"],
                "size": _folder_size(output),
                "partitions": counts["partitions"],
            }
            if prefix is not None:
                written.update(_publish(output, prefix, model.ref, job.id))
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    final = {
        "output": written,
        "errors_output": None,
        "inputs": [f.to_dict() for f in files],
        "rows_read": counts["rows"],
        "rows_scored": counts["scored"],
        "rows_failed": counts["failed"],
        "chunks": counts["partitions"],
        "chunks_resumed": 0,
        "shard": "0/1",
        "workers": None,
        "session_threads": 1,
        "duration_s": round(time.monotonic() - started, 3),
        "error": None,
    }
    return job_store.finish_job(store.conn, job.id, "completed", final, prov)


def _staging(store: Store) -> Path:
    """An owner-only folder in the store's tmp (on the driver's machine), removed after the job."""
    store.paths.tmp.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="spark-staging-", dir=store.paths.tmp))


def s3a_configured(options: SparkOptions) -> bool:
    """Whether the Spark configuration given brings Hadoop's S3A connector (hadoop-aws)."""
    conf = dict(options.conf)
    jars = conf.get("spark.jars.packages", "") + "," + conf.get("spark.jars", "")
    return "hadoop-aws" in jars or any(key.startswith("spark.hadoop.fs.s3a.") for key in conf)


def stage_inputs(files: list[InputFile], folder: Path) -> list[InputFile]:
    """Each object input downloaded into `folder` (local files stay where they are): the list
    Spark reads, in the same order, each copy named by its position and the object's name."""
    folder.mkdir(mode=0o700)
    staged = []
    for index, file in enumerate(files):
        if file.url is None:
            staged.append(file)
            continue
        local = folder / f"{index:05d}-{file.path.name}"
        storage.download(file.url, local, file.size, file.version)
        staged.append(InputFile(local, file.format, file.size, local.stat().st_mtime_ns))
    return staged


def _publish(folder: Path, prefix: str, ref: str, job_id: str) -> dict:
    """The staged part files under `prefix`, all-or-nothing by its `_SUCCESS` marker."""
    prefixes.start_rewrite(prefix)
    urls = prefixes.publish_folder(folder, prefix)
    objects = prefixes.finish(prefix, urls, {"model": ref, "job": job_id})
    return {"objects": objects, "success_marker": storage.join(prefix, prefixes.SUCCESS)}


def _refuse_local_only(request: ScoreRequest) -> None:
    if request.errors_output is not None:
        raise UsageError("--errors-output is not available with --engine spark", hint="the job counts them")
    if request.max_error_rate is not None:
        raise UsageError("--max-error-rate is not available with --engine spark")
    if request.shard != (0, 1):
        raise UsageError("--shard is for the local engine; Spark splits the input itself")


def folder_digest(path: Path) -> str:
    """sha256 of the folder's manifest: each file's relative path and sha256, sorted by path."""
    import hashlib

    lines = [
        f"{p.relative_to(path).as_posix()}\t{sha256_file(p)[0]}\n"
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith((".", "_"))
    ]
    return f"sha256:{hashlib.sha256(''.join(lines).encode()).hexdigest()}"


def _folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
