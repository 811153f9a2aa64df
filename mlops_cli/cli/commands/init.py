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

    Also writes .mlops/config.yaml, a commented example of event hooks (none active).

    Example: mlops init
    """
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.events.config import write_default as write_default_config
    from mlops_cli.store import init_store

    store, created = init_store(path, provenance())
    store.close()
    config_created = write_default_config(store.paths.root)
    data = {"store": str(store.paths.root), "created": created, "config_created": config_created}
    verb = "Initialised" if created else "Already initialised:"
    Output(json).result(data, f"{verb} mlops store in {store.paths.root}")
