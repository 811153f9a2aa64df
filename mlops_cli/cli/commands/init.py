"""`mlops init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlops_cli.cli.options import JsonOpt
from mlops_cli.cli.output import Output


def init(
    path: Annotated[Path, typer.Option("--path", help="The project folder to create .mlops/ in.")] = Path(
        "."
    ),
    json: JsonOpt = False,
) -> None:
    """Create the .mlops/ store in this project (safe to run again).

    Example: mlops init
    """
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.store import init_store

    store, created = init_store(path, provenance())
    store.close()
    data = {"store": str(store.paths.root), "created": created}
    verb = "Initialised" if created else "Already initialised:"
    Output(json).result(data, f"{verb} mlops store in {store.paths.root}")
