"""What a revision runs: the local target's verified files (and entry environment), or an image."""

from __future__ import annotations

from dataclasses import replace

from mlops_cli.domain import ModelVersion
from mlops_cli.store import Store
from mlops_cli.targets.base import DeploySpec


def with_artifact(
    store: Store, target: str, spec: DeploySpec, versions: list[ModelVersion], dry_run: bool
) -> DeploySpec:
    """The local target serves the verified files (each version's, for several); image targets
    need an image holding every version."""
    if target == "local":
        from mlops_cli.packaging.bundling import local_bundle

        bundles = [local_bundle(store, v.ref)[1] for v in versions]
        others = [{**o, "model_dir": str(b)} for o, b in zip(spec.others, bundles[1:], strict=True)]
        python = _entry_python(store, versions, dry_run)
        return replace(spec, model_dir=bundles[0], others=others, options={**spec.options, **python})
    from mlops_cli.deploy.images import image_for

    if target == "kubernetes" and spec.options.get("image"):
        # A registry image the cluster pulls: this machine's engine need not have it.
        return replace(spec, image=spec.options["image"])
    return replace(spec, image=image_for(store, versions, spec, build=not dry_run))


def _entry_python(store: Store, versions: list[ModelVersion], dry_run: bool) -> dict[str, str]:
    """The entry scripts' environment (built now if needed): the local target runs its Python."""
    from mlops_cli.environments.together import shared_environment
    from mlops_cli.environments.venvs import envs_dir

    if dry_run:
        return {}
    environment = shared_environment(envs_dir(store), versions)
    return {"python": str(environment.python)} if environment else {}
