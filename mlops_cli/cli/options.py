"""Options shared by many commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.root_options import json_callback, store_callback

# Both also work before the command name (`mlops --json models list`): see root_options.py.
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout.", callback=json_callback)
]
StoreOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--store",
        envvar="MLOPS_STORE",
        metavar="PATH",
        help="The store to use (a .mlops folder or its project); default: the nearest upwards.",
        show_default=False,
        callback=store_callback,
    ),
]
ModelRefArg = Annotated[
    str, typer.Argument(metavar="REF", help="A model version: NAME, NAME:N, NAME@ALIAS or NAME:latest.")
]
ModelRefsArg = Annotated[
    list[str],
    typer.Argument(
        metavar="REF...",
        help="Model versions (NAME, NAME:N, NAME@ALIAS); several: one server, each under /v2/models/NAME.",
    ),
]
MessageOpt = Annotated[
    Optional[str],
    typer.Option(
        "--message", "-m", metavar="TEXT", help="Why you are doing this; recorded in the audit log."
    ),
]
EnvManagerOpt = Annotated[
    str,
    typer.Option(
        "--env-manager",
        metavar="MANAGER",
        help="Where an entry script runs: virtualenv (its own cached environment) or local (this Python).",
    ),
]
ProvidersOpt = Annotated[
    Optional[str],
    typer.Option(
        "--providers",
        help="onnxruntime execution providers in order of preference, e.g. cuda,cpu or openvino,cpu;"
        " the first available is used [default: cpu].",
        metavar="LIST",
    ),
]
