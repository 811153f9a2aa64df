"""The image a docker (or kubernetes) revision runs: --image, else the version's own, else built."""

from __future__ import annotations

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import ExternalToolError
from mlops_cli.store import Store
from mlops_cli.targets.base import DeploySpec


def image_for(store: Store, version: ModelVersion, spec: DeploySpec, build: bool = True) -> str:
    """The image to run. `--image` must exist; the newest recorded image of the version that
    still exists in the engine is used (one with pyarrow when `--collect` is on); otherwise
    `mlops package` builds one (not when `build` is False, as in --dry-run).
    ExternalToolError when there is no engine or no such image."""
    from mlops_cli.targets import docker
    from mlops_cli.targets.package import DEFAULT_BASE_IMAGE, default_tag, package

    wanted = spec.options.get("image")
    if wanted:
        docker.inspect(wanted)
        return wanted
    for artifact in sorted(
        (a for a in version.artifacts if a.kind == "image"), key=lambda a: a.created_at, reverse=True
    ):
        packages = " ".join(artifact.details.get("packages") or [])
        if spec.collect and "pyarrow==" not in packages:
            continue  # --collect needs an image built --with-collect
        try:
            info = docker.inspect(artifact.ref)
        except ExternalToolError:
            continue
        if info.labels.get("mlops.model.digest") == version.digest:
            return artifact.ref
    if not build:
        return f"{default_tag(version)} (to be built by `mlops package`)"
    result = package(
        store,
        version.ref,
        base_image=spec.options.get("base_image") or DEFAULT_BASE_IMAGE,
        with_collect=spec.collect,
        message=f"built for deployment {spec.name}",
    )
    return result.image
