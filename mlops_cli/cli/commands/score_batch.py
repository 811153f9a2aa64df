"""`mlops score-batch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, short_digest
from mlops_cli.errors import UsageError


def score_batch(
    ref: Annotated[
        Optional[str],
        typer.Argument(
            metavar="REF",
            help="A registered ONNX model (NAME, NAME:N, NAME@ALIAS), or with --resume a job id.",
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        Optional[list[str]],
        typer.Option(
            "--input", "-i", help="A CSV/Parquet/JSONL file, folder or glob, local or a URL; repeatable."
        ),
    ] = None,
    output: Annotated[
        Optional[str],
        typer.Option(
            "--output", "-o", help="A .parquet, .csv or .jsonl file or a folder; or s3://, gs://, az:// URL."
        ),
    ] = None,
    output_format: Annotated[
        Optional[str],
        typer.Option("--output-format", help="csv, parquet or jsonl; default: from --output's extension."),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Rows per chunk.")] = 65_536,
    workers: Annotated[
        Optional[int], typer.Option("--workers", "-w", help="Worker processes, each with its own session.")
    ] = None,
    threads_per_worker: Annotated[
        Optional[int],
        typer.Option(
            "--threads-per-worker", help="onnxruntime threads per worker; default: cores / workers."
        ),
    ] = None,
    features: Annotated[
        Optional[str],
        typer.Option("--features", help="Columns feeding the model's input, in training order: a,b,c."),
    ] = None,
    passthrough: Annotated[
        Optional[str], typer.Option("--passthrough", help="Columns to copy into the output: id,date.")
    ] = None,
    on_error: Annotated[
        str, typer.Option("--on-error", help="fail: stop at the first bad row; skip: score the others.")
    ] = "fail",
    errors_output: Annotated[
        Optional[Path],
        typer.Option("--errors-output", help="With --on-error skip: where the skipped rows and reasons go."),
    ] = None,
    max_error_rate: Annotated[
        Optional[float],
        typer.Option(
            "--max-error-rate",
            help="With --on-error skip: fail (exit 5, no output) when more than this share of rows fail.",
        ),
    ] = None,
    shard: Annotated[
        Optional[str],
        typer.Option("--shard", help="I/N: score only the I-th of N interleaved parts (0 <= I < N)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the unfinished job with the same options (or REF as a job id)."
        ),
    ] = False,
    optimization: Annotated[
        str, typer.Option("--optimization", help="Graph optimisation: disable, basic, extended, all.")
    ] = "all",
    engine: Annotated[
        str, typer.Option("--engine", help="local (this machine) or spark (a PySpark job).")
    ] = "local",
    master: Annotated[
        Optional[str],
        typer.Option("--master", help="With --engine spark: local[N], spark://HOST:PORT, yarn, k8s://..."),
    ] = None,
    spark_conf: Annotated[
        Optional[list[str]],
        typer.Option("--spark-conf", help="With --engine spark: a Spark setting KEY=VALUE; repeatable."),
    ] = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Score CSV, Parquet or JSON Lines files with a registered ONNX model, streaming.

    Rows are read in chunks, scored (in --workers processes) and written in input order; the
    output appears only when complete. An interrupted job continues from its last finished
    chunk with --resume, and gives the same bytes as an uninterrupted run.

    Example: mlops score-batch churn@prod -i 'data/*.parquet' -o scores.parquet --passthrough id
    """
    from mlops_cli.batch.request import ScoreRequest, parse_columns, parse_shard
    from mlops_cli.batch.run import score_batch as run_score_batch
    from mlops_cli.batch.storage import location

    out = Output(json)
    job_id = None
    request = None
    if resume and ref is not None and not input and output is None:
        job_id = ref
    else:
        if ref is None or not input or output is None:
            raise UsageError("give REF, --input and --output", hint="or `--resume JOB_ID` to continue a job")
        request = ScoreRequest(
            model=ref,
            inputs=tuple(input),
            output=location(output),
            output_format=output_format,
            batch_size=batch_size,
            workers=workers or 1,
            threads_per_worker=threads_per_worker or 0,
            features=parse_columns(features),
            passthrough=parse_columns(passthrough),
            on_error=on_error,
            errors_output=errors_output,
            max_error_rate=max_error_rate,
            shard=parse_shard(shard),
            optimization=optimization,
            message=message,
        )
    if engine not in ("local", "spark"):
        raise UsageError(f"--engine must be local or spark, not {engine!r}")
    if engine == "spark":
        if request is None:
            raise UsageError("--resume is for the local engine: a Spark job is rerun, not resumed")
        from mlops_cli.batch.engines.spark import parse_options
        from mlops_cli.batch.engines.spark_job import score_with_spark

        options = parse_options(master, spark_conf)
        with store_for(store) as opened:
            job = score_with_spark(opened, request, options)
        _render(out, job)
        return
    if master is not None or spark_conf:
        raise UsageError("--master and --spark-conf need --engine spark")
    with store_for(store) as opened:
        job = run_score_batch(
            opened,
            request,
            resume=resume,
            job_id=job_id,
            workers=workers,
            threads_per_worker=threads_per_worker,
            progress=out,
        )
    _render(out, job)


def _render(out: Output, job) -> None:
    details = job.details
    if details.get("rows_failed"):
        out.warn(f"{details['rows_failed']:,} rows could not be scored and were skipped")
    duration = details["duration_s"] or 1e-9
    out.result(
        job,
        f"Scored {details['rows_scored']:,} of {details['rows_read']:,} rows with {job.model_ref} in"
        f" {duration:.2f} s ({details['rows_read'] / duration:,.0f} rows/s)\n"
        f"{details['output']['path']} ({human_size(details['output']['size'])},"
        f" {short_digest(details['output']['sha256'])}); job {job.id}",
    )
