"""`mlops push`: publish versions to a remote."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import LazyModule, store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, plural

pushing = LazyModule("mlops_cli.remote.push")

RefsArg = Annotated[
    Optional[list[str]],
    typer.Argument(
        metavar="REF", help="Versions: NAME, NAME:N, NAME@ALIAS or NAME:latest.", show_default=False
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every version.")]
RemoteOpt = Annotated[
    Optional[str],
    typer.Option(
        "--remote", "-r", metavar="NAME", help="The remote (default: the default remote).", show_default=False
    ),
]


def push(
    refs: RefsArg = None,
    all_versions: AllOpt = False,
    remote: RemoteOpt = None,
    renumber: Annotated[
        bool,
        typer.Option(
            "--renumber",
            help="When the remote holds NAME:N with another digest, publish this one as its next number.",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Re-hash every blob of these versions on the remote (read back); re-upload any damaged one.",
        ),
    ] = False,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Publish versions to a remote: the blobs it lacks, then their records and the audit events.

    The remote decides version numbers: if it holds NAME:N with another digest, the push stops
    with exit 6 and both digests, and nothing is overwritten; --renumber publishes yours as the
    remote's next number and records which is which.

    Example: mlops push churn:3 --remote team
    """
    out = Output(json)
    with store_for(store) as opened:
        result = pushing.push(
            opened,
            refs or [],
            all_versions=all_versions,
            remote_name=remote,
            renumber=renumber,
            verify=verify,
            message=message,
            progress=out,
        )
    lines = [f"{v.ref} → {result.remote['name']} as {v.remote_ref} ({v.status})" for v in result.versions]
    lines.append(
        f"Pushed {plural(len(result.versions), 'version')} ({plural(result.blobs_uploaded, 'blob')},"
        f" {human_size(result.bytes_uploaded)}), {plural(result.events_uploaded, 'event')};"
        f" {result.up_to_date} already there"
    )
    out.result(result, "\n".join(lines))
