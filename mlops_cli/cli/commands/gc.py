"""`mlops gc`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlops_cli.cli.commands._common import report_leftovers, store_for
from mlops_cli.cli.options import JsonOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, plural

if TYPE_CHECKING:
    from rich.console import Console


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed, and why; change nothing.")
    ] = False,
    grace: Annotated[
        str,
        typer.Option("--grace", help="Keep unreferenced blobs younger than this (30m, 1h, 2d; 0 for none)."),
    ] = "1h",
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Remove blobs that no version, dataset, artifact, job or deployment references.

    Also removes temp files left by interrupted writes. Safe while others register: it takes
    the write lock and keeps blobs younger than --grace. Every real run is an audit event.

    Example: mlops gc --dry-run
    """
    from mlops_cli.maintenance.gc import collect_garbage

    out = Output(json)
    with store_for(store) as opened:
        report_leftovers(out, opened)  # a dead writer's temp data goes when any command opens the store
        report = collect_garbage(opened, dry_run=dry_run, grace=grace)

    def human(console: Console) -> None:
        verb = "Would remove" if dry_run else "Removed"
        for kept in report.kept_for_deployments if dry_run else []:
            console.print(f"{kept['digest']}  kept: {kept['reason']}", markup=False)
        for blob in report.blobs:
            console.print(f"{blob.digest}  {human_size(blob.size):>9}  {blob.reason}", markup=False)
        temp_bytes = sum(t["size"] for t in report.temp_files)
        console.print(
            f"{verb} {plural(report.count, 'blob')} ({human_size(report.bytes)}) and"
            f" {plural(len(report.temp_files), 'temp file')} ({human_size(temp_bytes)});"
            f" {plural(report.scanned, 'blob')} scanned"
            + (
                f", {report.kept_fresh} unreferenced kept (younger than --grace)" if report.kept_fresh else ""
            ),
            markup=False,
        )

    out.result(report, human)
