"""`mlops pipeline ...`: run the steps of pipeline.yaml that changed, and say which changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlops_cli.cli.commands._common import LazyModule, store_for
from mlops_cli.cli.options import JsonOpt, StoreOpt
from mlops_cli.cli.output import Output

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.pipeline.report import PipelineReport

runner = LazyModule("mlops_cli.pipeline.runner")
spec = LazyModule("mlops_cli.pipeline.spec")

_HELP = "Run pipeline.yaml's steps that changed (cached in mlops.lock), and show what changed."
app = typer.Typer(help=_HELP, short_help=_HELP, no_args_is_help=True)

ArgumentsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        metavar="[PIPELINE.yaml] [STEP]...",
        help="The pipeline file (default: pipeline.yaml), then steps to run with what they need.",
        show_default=False,
    ),
]


@app.command("run")
def run(
    arguments: ArgumentsArg = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Run the selected steps even if unchanged.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", metavar="N", help="Steps to run at once.")] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run; run and record nothing.")
    ] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Run the steps whose deps, cmd or params changed since their last success.

    Each run is recorded (a job and audit events with mlops.lock's digest, the environment and
    the git commit), also a run with nothing to do (no_op); outs are kept in the store. Exit 1
    when a step fails (its dependants do not run), 2 for a bad pipeline.

    Example: mlops pipeline run --jobs 2
    """
    from mlops_cli.store.project import find_store

    out = Output(json)
    file, steps = spec.split_arguments(list(arguments or []))
    if dry_run:
        report = runner.pipeline_status(find_store(store), file, steps, force=force)
    else:
        report = runner.run_pipeline(
            find_store(store),
            file,
            steps,
            open_store=lambda: store_for(store),
            force=force,
            jobs=jobs,
            note=out.note,
        )
    for failed in report.failed:
        if failed.log_tail and not json:
            out.note(f"--- last lines of {failed.name}'s log ({failed.log}) ---")
            out.note("\n".join(failed.log_tail))
    if report.no_op:  # one line, not a table of 50 skipped steps (and no rich to import)
        summary = (
            f"nothing to do: {len(report.steps)} steps up to date, mlops.lock {report.lock or '-'}"
            f" (run {report.job})"
        )
        out.result(report, summary)
    else:
        out.result(report, lambda console: _render(report, console))
    error = report.error()
    if error is not None:
        raise error


@app.command("status")
def status(
    arguments: ArgumentsArg = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show which steps changed since their last successful run, and why.

    Example: mlops pipeline status --json | jq '.steps[] | select(.status == "changed")'
    """
    from mlops_cli.store.project import find_store

    file, steps = spec.split_arguments(list(arguments or []))
    report = runner.pipeline_status(find_store(store), file, steps)
    Output(json).result(report, lambda console: _render(report, console))


def _render(report: PipelineReport, console: Console) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("STEP", "STATUS", "WHY"):
        table.add_column(column)
    for step in report.steps:
        why = step.error or "; ".join(step.reasons) or "-"
        if step.registered:
            why += " | " + ", ".join(f"{k} {v}" for k, v in step.registered.items())
        table.add_row(step.name, step.status, why)
    console.print(table)
    if report.job:
        console.print(f"run {report.job}, mlops.lock {report.lock or '-'}", markup=False)
