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

    Also writes .mlops/config.yaml, a commented example of event hooks (none active). On an
    existing store made by an older mlops, makes .mlops/ owner-only (0700) and says so.

    Example: mlops init
    """
    from mlops_cli.audit.provenance import provenance
    from mlops_cli.events.config import write_default as write_default_config
    from mlops_cli.store import init_store, make_owner_only

    store, created = init_store(path, provenance())
    store.close()
    before = make_owner_only(store.paths.root)
    config_created = write_default_config(store.paths.root)
    data = {
        "store": str(store.paths.root),
        "created": created,
        "config_created": config_created,
        "mode": oct(store.paths.root.stat().st_mode & 0o777)[2:].zfill(4),
        "tightened_from": None if before is None else oct(before)[2:].zfill(4),
    }
    verb = "Initialised" if created else "Already initialised:"
    lines = [f"{verb} mlops store in {store.paths.root}"]
    if before is not None:
        lines.append(
            f"Made it owner-only: mode {data['tightened_from']} -> {data['mode']}"
            " (other local users could read its models, trail and blobs)"
        )
    Output(json).result(data, "\n".join(lines))
