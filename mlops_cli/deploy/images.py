"""The image a docker (or kubernetes) revision runs: --image, else the versions' own, else built."""

from __future__ import annotations

from mlops_cli.domain import ModelVersion
from mlops_cli.errors import ExternalToolError
from mlops_cli.store import Store
from mlops_cli.targets.base import DeploySpec


def image_for(store: Store, versions: list[ModelVersion], spec: DeploySpec, build: bool = True) -> str:
    """The image to run. `--image` must exist; the newest recorded image that serves exactly
    these versions and still exists in the engine is used (one with pyarrow when `--collect`
    is on); otherwise `mlops package` builds one (not when `build` is False, as in --dry-run).
    ExternalToolError when there is no engine or no such image."""
    from mlops_cli.packaging.image import DEFAULT_BASE_IMAGE, default_tag, package
    from mlops_cli.targets import docker

    wanted = spec.options.get("image")
    if wanted:
        docker.inspect(wanted)
        return wanted
    version, others = versions[0], versions[1:]
    refs = [v.ref for v in versions]
    for artifact in sorted(
        (a for a in version.artifacts if a.kind == "image"), key=lambda a: a.created_at, reverse=True
    ):
        packages = " ".join(artifact.details.get("packages") or [])
        if spec.collect and "pyarrow==" not in packages:
            continue  # --collect needs an image built --with-collect
        if (artifact.details.get("models") or [version.ref]) != refs:
            continue  # an image of another set of versions
        try:
            info = docker.inspect(artifact.ref)
        except ExternalToolError:
            continue
        if _serves(info.labels, versions):
            return artifact.ref
    if not build:
        return f"{default_tag(version, others)} (to be built by `mlops package`)"
    result = package(
        store,
        version.ref,
        more_refs=tuple(refs[1:]),
        base_image=spec.options.get("base_image") or DEFAULT_BASE_IMAGE,
        with_collect=spec.collect,
        message=f"built for deployment {spec.name}",
    )
    return result.image


def _serves(labels: dict[str, str], versions: list[ModelVersion]) -> bool:
    """The image's labels name exactly these versions' digests (a retagged image does not)."""
    if labels.get("mlops.model.digest") != versions[0].digest:
        return False
    if len(versions) == 1:
        return "mlops.models.digests" not in labels
    return labels.get("mlops.models.digests") == " ".join(v.digest for v in versions)
