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
    entry: Annotated[
        Optional[Path],
        typer.Option(
            "--entry", help="An entry script (init/run, or preprocess/postprocess).", metavar="SCRIPT"
        ),
    ] = None,
    environment: Annotated[
        Optional[Path],
        typer.Option("--environment", help="The entry script's conda environment.yml.", metavar="FILE"),
    ] = None,
    requirements: Annotated[
        Optional[Path],
        typer.Option("--requirements", help="The entry script's pip requirements.txt.", metavar="FILE"),
    ] = None,
    code: Annotated[
        Optional[Path],
        typer.Option("--code", help="Helper modules, on sys.path when the script runs.", metavar="DIR"),
    ] = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Register a model file or folder as a new version.

    Versions count up per name from 1; the content is stored by sha256 in .mlops/objects.

    With --entry, the script, its environment (pinned by resolving it now) and --code are
    stored with the version; nothing is imported or run until it is served.

    Example: mlops register model.onnx --name churn --tag team=growth --alias candidate

    Example: mlops register model.pkl --entry score.py --environment environment.yml
    """
    from mlops_cli.domain import parse_tag
    from mlops_cli.environments.attach import EntryRequest
    from mlops_cli.errors import UsageError
    from mlops_cli.models.registering import register_model

    out = Output(json)
    tags = dict(parse_tag(t) for t in tag or [])
    if entry is None and (environment or requirements or code):
        raise UsageError("--environment, --requirements and --code go with --entry SCRIPT")
    entry_request = EntryRequest(entry, environment, requirements, code) if entry else None
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
            entry=entry_request,
        )
    out.result(
        version,
        f"Registered {version.ref} ({short_digest(version.digest)}, {human_size(version.size)})",
    )
