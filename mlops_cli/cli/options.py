"""Options shared by many commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
StoreOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--store",
        envvar="MLOPS_STORE",
        help="The store to use (a .mlops folder or its project); default: the nearest upwards.",
        show_default=False,
    ),
]
ModelRefArg = Annotated[
    str, typer.Argument(metavar="REF", help="A model version: NAME, NAME:N, NAME@ALIAS or NAME:latest.")
]
MessageOpt = Annotated[
    Optional[str],
    typer.Option("--message", "-m", help="Why you are doing this; recorded in the audit log."),
]
