"""`mlops register`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, StoreOpt
from mlops_cli.cli.output import Output, human_size, short_digest
from mlops_cli.models.frameworks import FRAMEWORKS


def register(
    path: Annotated[Path, typer.Argument(help="A model file or folder (SavedModel, shards, ...).")],
    name: Annotated[
        Optional[str], typer.Option("--name", "-n", help="Model name; default: the file's stem.")
    ] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", "-t", help="KEY=VALUE; repeatable.")] = None,
    alias: Annotated[
        Optional[str], typer.Option("--alias", "-a", help="Point this alias at the new version.")
    ] = None,
    description: Annotated[
        Optional[str], typer.Option("--description", "-d", help="What the model is.")
    ] = None,
    framework: Annotated[
        Optional[str],
        typer.Option("--framework", help=f"One of {', '.join(FRAMEWORKS)}; default: detected."),
    ] = None,
    dataset: Annotated[
        Optional[list[Path]],
        typer.Option("--dataset", help="Training data file, stored for lineage; repeatable."),
    ] = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Register a model file or folder as a new version.

    Versions count up per name from 1; the content is stored by sha256 in .mlops/objects.

    Example: mlops register model.onnx --name churn --tag team=growth --alias candidate
    """
    from mlops_cli.domain import parse_tag
    from mlops_cli.models.registering import register_model

    out = Output(json)
    tags = dict(parse_tag(t) for t in tag or [])
    with store_for(store) as opened:
        version = register_model(
            opened,
            path,
            name=name,
            tags=tags,
            alias=alias,
            description=description,
            framework=framework,
            datasets=list(dataset or []),
            message=message,
            progress=out,
        )
    out.result(
        version,
        f"Registered {version.ref} ({short_digest(version.digest)}, {human_size(version.size)})",
    )
