"""`mlops profile REF`: measured latency, throughput and memory, and a CPU/memory recommendation."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefArg, ProvidersOpt, StoreOpt
from mlops_cli.cli.output import Output
from mlops_cli.errors import CheckFailedError, UsageError

if TYPE_CHECKING:  # imported when profile runs: every other command's start-up skips them
    from mlops_cli.profile.sweep import Progress

MODE_CHOICES = {"all": ("inprocess", "http"), "inprocess": ("inprocess",), "http": ("http",)}


@contextmanager
def _progress(output: Output, total: int) -> Iterator[Progress]:
    """A bar counting points on a terminal, naming the one just measured; nothing in a pipe."""
    from mlops_cli.profile.sweep import Progress

    if not output.interactive:
        yield Progress(note=output.note)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    columns = (
        TextColumn("profiling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Bar(*columns, console=output.stderr, transient=True) as bar:
        task = bar.add_task("", total=total)
        yield Progress(
            advance=lambda description: bar.update(task, advance=1, description=description),
            note=lambda text: bar.console.print(text, markup=False),
        )


def profile(
    ref: ModelRefArg,
    data: Annotated[
        Optional[Path], typer.Option(help="Rows from a CSV, Parquet or JSON Lines file.", metavar="PATH")
    ] = None,
    rows: Annotated[int, typer.Option(help="Without --data: rows synthesised from the signature.")] = 1000,
    batch_sizes: Annotated[
        str, typer.Option(help="Rows per request or call.", metavar="N,...")
    ] = "1,8,64,512",
    threads: Annotated[
        str, typer.Option(help="onnxruntime intra-op threads (in-process mode).", metavar="N,...")
    ] = "1,2",
    workers: Annotated[
        str, typer.Option(help="Serving worker processes (HTTP mode).", metavar="N,...")
    ] = "1",
    concurrency: Annotated[
        str, typer.Option(help="Requests in flight (connections, or calling threads).", metavar="N,...")
    ] = "1,4,16",
    duration: Annotated[float, typer.Option(help="Seconds measured per point, after the warm-up.")] = 1.0,
    warmup: Annotated[float, typer.Option(help="Seconds of warm-up per point, not measured.")] = 0.2,
    repeat: Annotated[int, typer.Option(help="Measurements per point (medians and spread).")] = 1,
    mode: Annotated[str, typer.Option(help="all, inprocess or http.")] = "all",
    in_container: Annotated[
        bool, typer.Option("--in-container", help="Measure the packaged image under Docker at each --cpus.")
    ] = False,
    cpus: Annotated[
        Optional[str], typer.Option(help="CPU limits for --in-container (default 0.5,1,2).", metavar="X,...")
    ] = None,
    base_image: Annotated[
        str, typer.Option(help="Base image when --in-container must build the image first.")
    ] = "python:3.11-slim",
    target_p99_ms: Annotated[
        Optional[str], typer.Option(help="Latency target: p99 at most this many ms.", metavar="X")
    ] = None,
    target_rps: Annotated[
        Optional[str], typer.Option(help="Throughput target: at least this many rows/s.", metavar="Y")
    ] = None,
    headroom: Annotated[float, typer.Option(help="Memory headroom over the peak RSS (0.25: +25 %).")] = 0.25,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (for CI comments).")
    ] = False,
    providers: ProvidersOpt = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Measure a model's latency, throughput and memory, and recommend CPU and memory for it.

    Each point (batch size x threads or workers x concurrency) runs a warm-up, then --duration
    seconds, --repeat times: in-process through the runtime, and over HTTP against a real
    `mlops serve` (or, with --in-container, the packaged image at each --cpus limit; the
    recommendation is then re-measured in a container to confirm it). The result and the
    recommendation are stored with the version (`mlops models show`). Exit 5 when no
    configuration meets --target-p99-ms and --target-rps (the best found is printed).

    Example: mlops profile churn:3 --target-p99-ms 20 --target-rps 500
    """
    if json and markdown:
        raise UsageError("--json and --markdown cannot be combined")
    if mode not in MODE_CHOICES:
        raise UsageError(f"--mode {mode!r} is not one of {', '.join(MODE_CHOICES)}")
    from mlops_cli.profile.request import ProfileRequest, parse_list, parse_target, plan

    request = ProfileRequest(
        ref=ref,
        data=data,
        rows=rows,
        batch_sizes=parse_list("--batch-sizes", batch_sizes),
        threads=parse_list("--threads", threads),
        workers=parse_list("--workers", workers),
        concurrency=parse_list("--concurrency", concurrency),
        duration=duration,
        warmup=warmup,
        repeat=repeat,
        modes=MODE_CHOICES[mode],
        in_container=in_container,
        cpus=parse_list("--cpus", cpus, float),
        base_image=base_image,
        target_p99_ms=parse_target("--target-p99-ms", target_p99_ms),
        target_rps=parse_target("--target-rps", target_rps),
        headroom=headroom,
        providers=_providers(providers),
        message=message,
    )
    request.check()
    output = Output(json)
    with store_for(store) as opened, _progress(output, plan(request).total) as progress:
        try:
            result = _run(opened, request, progress)
        except CheckFailedError as exc:
            if exc.report is not None:
                _show(output, exc.report, markdown)
            raise
    _show(output, result, markdown)
    if (result.get("recommendation") or {}).get("confirmed") is False:
        output.warn(
            "the recommended limits did not meet the targets when re-measured in a container"
            " (stored with confirmed: false; see `confirmation`)"
        )


def _run(opened, request, progress):
    from mlops_cli.profile.sweep import run_profile

    return run_profile(opened, request, progress)


def _show(output: Output, result: dict, markdown: bool) -> None:
    from mlops_cli.cli import profile_view

    if markdown:
        sys.stdout.write(profile_view.markdown(result))
        sys.stdout.flush()
        return
    output.result(result, lambda console: profile_view.render(result, console))


def _providers(text: str | None) -> tuple[str, ...]:
    """The providers to measure, each alone (names checked here: a typo is exit 2)."""
    from mlops_cli.runtime.providers import parse_providers

    return parse_providers(text)
