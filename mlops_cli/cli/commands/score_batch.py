"""`mlops score-batch`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import fetch_from_remote, store_for
from mlops_cli.cli.options import EnvManagerOpt, JsonOpt, MessageOpt, ProvidersOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, short_digest
from mlops_cli.errors import MlopsError, UsageError


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
    target: Annotated[
        Optional[str],
        typer.Option("--target", help="kubernetes: run N shards as an Indexed Job on a cluster."),
    ] = None,
    parallelism: Annotated[
        int, typer.Option("--parallelism", help="With --target kubernetes: shards (pods) of the Job.")
    ] = 1,
    image: Annotated[
        Optional[str],
        typer.Option("--image", help="With --target kubernetes: the pods' image; default: the packaged one."),
    ] = None,
    secret: Annotated[
        Optional[str],
        typer.Option("--secret", help="With --target kubernetes: a Secret whose keys become the pods' env."),
    ] = None,
    namespace: Annotated[Optional[str], typer.Option("--namespace", help="Kubernetes namespace.")] = None,
    context: Annotated[Optional[str], typer.Option("--context", help="kubectl context.")] = None,
    kubeconfig: Annotated[Optional[str], typer.Option("--kubeconfig", help="kubeconfig file.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --target kubernetes: print the Job and commands only.")
    ] = False,
    providers: ProvidersOpt = None,
    env_manager: EnvManagerOpt = "virtualenv",
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Score CSV, Parquet or JSON Lines files with a registered ONNX model, streaming.

    An Azure-form entry-script version (`register --entry score.py`) is scored by its run():
    each chunk of rows arrives as the JSON text {"data": [[...], ...]}, in the version's own
    cached environment (--env-manager local: this Python), init() once per worker.

    Rows are read in chunks, scored (in --workers processes) and written in input order; the
    output appears only when complete. An interrupted job continues from its last finished
    chunk with --resume, and gives the same bytes as an uninterrupted run.

    Inputs and outputs may be s3://, gs:// or az:// URLs. --engine spark runs the same scoring
    as a PySpark job; --target kubernetes as an Indexed Job of --parallelism shards.

    Example: mlops score-batch churn@prod -i 'data/*.parquet' -o scores.parquet --passthrough id

    Example: mlops score-batch churn:3 -i s3://lake/in/ -o s3://lake/out/ --target kubernetes --parallelism 8
    """
    from mlops_cli.batch.request import ScoreRequest, parse_columns, parse_shard
    from mlops_cli.batch.run import score_batch as run_score_batch
    from mlops_cli.storage import location

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
            providers=_providers(out, providers),
            message=message,
        )
    if engine not in ("local", "spark"):
        raise UsageError(f"--engine must be local or spark, not {engine!r}")
    if target is not None:
        if target != "kubernetes" or request is None or engine != "local":
            raise UsageError("--target takes kubernetes, with REF, --input and --output (local engine)")
        from mlops_cli.batch.engines.kubernetes import ClusterOptions, score_on_kubernetes

        cluster = ClusterOptions(parallelism, image, namespace, context, kubeconfig, secret)
        with store_for(store) as opened, _log_tail_on_error(out):
            plan = score_on_kubernetes(opened, request, cluster, dry_run=dry_run)
        _render_cluster(out, plan)
        return
    if dry_run or image or secret or namespace or context or kubeconfig or parallelism != 1:
        raise UsageError("--parallelism, --image, --secret, --namespace, --context, --kubeconfig and"
                         " --dry-run need --target kubernetes")  # fmt: skip
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
        if request is not None:
            fetch_from_remote(out, opened, request.model)
        job = run_score_batch(
            opened,
            request,
            resume=resume,
            job_id=job_id,
            workers=workers,
            threads_per_worker=threads_per_worker,
            progress=out,
            env_manager=env_manager,
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


@contextmanager
def _log_tail_on_error(out: Output) -> Iterator[None]:
    """The failed pods' logs on stderr, before the one error line."""
    try:
        yield
    except MlopsError as exc:
        for line in getattr(exc, "log_tail", None) or []:
            out.stderr.print(f"  | {line}", markup=False, highlight=False)
        raise


def _render_cluster(out: Output, plan: dict) -> None:
    if plan["dry_run"]:
        commands = "\n".join(" ".join(argv) for argv in plan["commands"])
        out.result(plan, f"{plan['yaml']}---\n# would run:\n{commands}")
        return
    record = plan["record"]
    shards = record.details["output"]["shards"]
    out.result(
        {**plan, "record": asdict(record)},
        f"Scored with {record.model_ref} in {len(shards)} pods of Job {plan['job']} in"
        f" {record.details['duration_s']:.1f} s\n{plan['success_marker']} lists the {len(shards)} outputs;"
        f" job {record.id}",
    )


def _providers(out: Output, text: str | None) -> tuple[str, ...]:
    """The providers every worker's session runs with: the first available of --providers."""
    from mlops_cli.runtime.providers import CPU, resolve

    if text is None:
        return (CPU,)
    choice = resolve(text)
    out.note(choice.note())
    return choice.providers
