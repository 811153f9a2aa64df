"""`mlops package REF`: an offline-built Docker image that serves a registered model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from mlops_cli.cli.commands._common import store_for
from mlops_cli.cli.options import JsonOpt, MessageOpt, ModelRefsArg, StoreOpt
from mlops_cli.cli.output import Output, human_size
from mlops_cli.errors import UsageError
from mlops_cli.packaging.dockerfile import DEFAULT_BASE_IMAGE


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
    refs: ModelRefsArg,
    image: Annotated[
        Optional[str],
        typer.Option(help="Image name and tag (default: mlops-NAME:VERSION).", metavar="NAME:TAG"),
    ] = None,
    base_image: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Base image with Python 3.11; it must exist locally (nothing is pulled). With several"
            " --platform, give one per platform: each takes the one of its architecture."
            f" [default: {DEFAULT_BASE_IMAGE}]",
        ),
    ] = None,
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
    with_batch: Annotated[
        bool,
        typer.Option(
            "--with-batch",
            help="Include the batch code, pyarrow and fsspec/s3fs so the image can run score-batch"
            " shards (the default image of score-batch --target kubernetes).",
        ),
    ] = False,
    package_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="'image' (a Docker image) or 'bundle' (a .tar.gz that serves without Docker).",
            metavar="image|bundle",
        ),
    ] = "image",
    bundle_output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="The bundle file to write (--format bundle).", metavar="FILE"),
    ] = None,
    with_wheels: Annotated[
        bool, typer.Option("--wheels", help="Put the pinned wheels in the bundle (installs offline).")
    ] = False,
    platform: Annotated[
        Optional[list[str]],
        typer.Option(
            "--platform",
            help="Target platform: linux/amd64 or linux/arm64 [default: this machine's].",
            metavar="OS/ARCH",
        ),
    ] = None,
    gpu: Annotated[
        bool,
        typer.Option(
            "--gpu",
            help="onnxruntime's CUDA build on a CUDA --base-image (it must be in the engine); the image"
            " prefers the CUDA provider and falls back to the CPU.",
        ),
    ] = False,
    push: Annotated[
        Optional[str],
        typer.Option(
            help="Push to this registry; with several --platform, each as TAG-ARCH and one image index"
            " (manifest list) under TAG, so a pull on any of them gets its own.",
            metavar="REGISTRY/NAME:TAG",
        ),
    ] = None,
    message: MessageOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Build a Docker image (or a Docker-free bundle) that serves a model, offline, and record it.

    The wheels are downloaded once on this machine (cached in .mlops/cache/wheels) and the
    build runs with the network off. The image runs as a non-root user and listens on $PORT
    (default 8080). `--format bundle --output model.tar.gz` writes one deterministic archive
    with the model, its manifest and audit record, the server and a launcher (serve.sh);
    `mlops bundle verify model.tar.gz` checks it anywhere.

    Several REFs build one image serving them all, each under /v2/models/NAME[/versions/N]
    (as `mlops serve REF REF` does); every version is verified and records the image.

    Example: mlops package churn:3 --image registry.example.com/churn:3

    Example: mlops package churn:3 fraud@production --image registry.example.com/scoring:1

    Example: mlops package churn:3 --platform linux/amd64,linux/arm64 --base-image py:3.11
    --base-image py:3.11-arm64 --push registry.example.com/churn:3

    Example: mlops package churn:3 --format bundle -o churn.tar.gz --platform linux/arm64 --wheels
    """
    from mlops_cli.packaging import image as packaging
    from mlops_cli.packaging import push as image_push

    output = Output(json)
    if package_format not in ("image", "bundle"):
        raise UsageError(f"unknown --format {package_format!r}", hint="use --format image or --format bundle")
    ref, more_refs = refs[0], tuple(refs[1:])
    if package_format == "bundle":
        if push is not None:
            raise UsageError("--push is for images", hint="copy the bundle file where it is needed")
        if more_refs:
            raise UsageError("a bundle holds one version", hint="package several versions as an image")
        _package_bundle(output, ref, bundle_output, with_wheels, platform or [], wheelhouse, message, store)
        return
    if bundle_output is not None or with_wheels:
        raise UsageError("--output and --wheels are for --format bundle", hint="images take --output-dir")
    if push is not None:
        if no_build:
            raise UsageError("--push needs an image: it cannot go with --no-build")
        image_push.check_push(push)
    from mlops_cli.packaging import platforms as known_platforms
    from mlops_cli.targets.docker import ImageBuildError  # here: every command's start-up skips it

    targets = known_platforms.parse_many(platform or []) or [None]
    if len(targets) > 1 and output_dir is not None:
        raise UsageError("--output-dir takes one --platform", hint="write one context per platform")
    results = []
    with store_for(store) as opened:
        for target in targets:
            try:
                with _build_log(output) as on_log:
                    results.append(
                        packaging.package(
                            opened,
                            ref,
                            image=image,
                            base_image=image_push.base_for(base_image or [], target),
                            output_dir=output_dir,
                            build=not no_build,
                            wheelhouse=wheelhouse,
                            with_collect=with_collect,
                            message=message,
                            on_log=on_log,
                            platform=target,
                            arch_suffix=len(targets) > 1,
                            gpu=gpu,
                            more_refs=more_refs,
                            with_batch=with_batch,
                        )
                    )
            except ImageBuildError as exc:
                for line in exc.log_tail:
                    output.stderr.print(f"  | {line}", markup=False, highlight=False)
                raise
    if push is not None:
        pushed = image_push.push_images(results, push)
        output.result(
            {"images": [r.to_dict() for r in results], "push": pushed},
            "\n".join([*(_summary(r) for r in results), f"Pushed {pushed['reference']}"]),
        )
    elif len(results) > 1:
        output.result([r.to_dict() for r in results], "\n".join(_summary(r) for r in results))
    else:
        output.result(results[0], _summary(results[0]))


def _summary(result) -> str:
    if not result.built:
        return f"Wrote the build context for {result.ref} to {result.context}"
    added = human_size(result.size - result.base_size) if result.base_size is not None else "?"
    serving = f" serving {' '.join(result.models)}" if len(result.models) > 1 else ""
    return (
        f"Built {result.image}{serving} ({result.platform}, {result.image_id[:19]},"
        f" {human_size(result.size)}, +{added} over the base)"
    )


def _package_bundle(
    output: Output,
    ref: str,
    target_file: Optional[Path],
    with_wheels: bool,
    platform: list[str],
    wheelhouse: Optional[Path],
    message: Optional[str],
    store: Optional[Path],
) -> None:
    from mlops_cli.packaging import platforms
    from mlops_cli.packaging.bundle import build_bundle

    if target_file is None:
        raise UsageError("--format bundle needs --output FILE", hint="e.g. --output model.tar.gz")
    wanted = platforms.parse_many(platform)
    if len(wanted) > 1:
        raise UsageError("a bundle is built for one --platform", hint="build one bundle per platform")
    with store_for(store) as opened:
        result = build_bundle(
            opened,
            ref,
            target_file,
            target=wanted[0] if wanted else None,
            with_wheels=with_wheels,
            wheelhouse=wheelhouse,
            message=message,
            note=output.note,
        )
    output.result(
        result,
        f"Wrote {result.output} ({human_size(result.size)}, {result.platform}, sha256 {result.sha256[:16]}…):"
        f" {result.ref} with its manifest and audit record; run ./serve.sh after extracting it",
    )
