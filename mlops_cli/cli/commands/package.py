"""`mlops package REF`: an offline-built Docker image that serves a registered model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefArg, StoreOpt
from mlops_cli.cli.output import Output, human_size
from mlops_cli.targets.docker import ImageBuildError
from mlops_cli.targets.dockerfile import DEFAULT_BASE_IMAGE


@contextmanager
def _build_log(output: Output) -> Iterator[Callable[[str], None]]:
    """A spinner showing the current step on a terminal; step lines on stderr otherwise."""
    if not output.interactive:
        yield lambda line: output.note(line) if line.startswith("Step ") else None
        return
    with output.stderr.status("building the image…") as status:

        def update(line: str) -> None:
            if line.startswith("Step "):
                status.update(line[:100])

        yield update


def package(
    ref: ModelRefArg,
    image: Annotated[
        Optional[str],
        typer.Option(help="Image name and tag (default: mlops-NAME:VERSION).", metavar="NAME:TAG"),
    ] = None,
    base_image: Annotated[
        str, typer.Option(help="Base image with Python 3.11; it must exist locally (nothing is pulled).")
    ] = DEFAULT_BASE_IMAGE,
    output_dir: Annotated[
        Optional[Path], typer.Option(help="Write the build context here and keep it.", metavar="DIR")
    ] = None,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Only write the context (needs --output-dir).")
    ] = False,
    wheelhouse: Annotated[
        Optional[Path],
        typer.Option(help="Take the wheels from this folder instead of the package index.", metavar="DIR"),
    ] = None,
    with_collect: Annotated[
        bool,
        typer.Option(
            "--with-collect", help="Include pyarrow so the image can use --collect (about +170 MB)."
        ),
    ] = False,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Build a Docker image that serves a model, offline, and record it with the version.

    The wheels are downloaded once on this machine (cached in .mlops/cache/wheels) and the
    build runs with the network off. The image runs as a non-root user and listens on $PORT
    (default 8080).

    Example: mlops package churn:3 --image registry.example.com/churn:3
    """
    from mlops_cli.targets import package as packaging

    output = Output(json)
    with store_for(store) as opened:
        try:
            with _build_log(output) as on_log:
                result = packaging.package(
                    opened,
                    ref,
                    image=image,
                    base_image=base_image,
                    output_dir=output_dir,
                    build=not no_build,
                    wheelhouse=wheelhouse,
                    with_collect=with_collect,
                    message=message,
                    on_log=on_log,
                )
        except ImageBuildError as exc:
            for line in exc.log_tail:
                output.stderr.print(f"  | {line}", markup=False, highlight=False)
            raise
    if result.built:
        added = human_size(result.size - result.base_size) if result.base_size is not None else "?"
        size = human_size(result.size)
        human = f"Built {result.image} ({result.image_id[:19]}, {size}, +{added} over the base)"
    else:
        human = f"Wrote the build context for {result.ref} to {result.context}"
    output.result(result, human)
