"""`mlops bundle verify FILE`: check a Docker-free bundle against its manifest, without a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_cli.cli.options import JsonOpt
from mlops_cli.cli.output import Output, plural
from mlops_cli.errors import CheckFailedError

_HELP = "Bundles made by `mlops package --format bundle`: verify them anywhere."
app = typer.Typer(help=_HELP, short_help=_HELP, no_args_is_help=True)


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The bundle (.tar.gz) to check.", metavar="FILE")],
    json: JsonOpt = False,
) -> None:
    """Check every file of a bundle against its manifest, the version digest and its audit record.

    Needs no store: run it on the device before serving. Exit 5 when any byte differs, a file
    is missing or added, or the record no longer holds.

    Example: mlops bundle verify churn.tar.gz
    """
    from mlops_cli.packaging.verify import verify_bundle

    out = Output(json)
    try:
        report = verify_bundle(file)
    except CheckFailedError as failed:
        if out.json_mode and failed.report is not None:
            out.result(failed.report)
        raise
    out.result(
        report,
        f"Bundle intact: {report.ref} ({report.digest[:23]}…, {report.platform}),"
        f" {plural(report.files, 'file')} match the manifest and the audit record holds",
    )
