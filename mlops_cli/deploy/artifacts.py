"""What a revision runs: the local target's verified files (and entry environment), or an image."""

from __future__ import annotations

from dataclasses import replace

from mlops_cli.domain import ModelVersion
from mlops_cli.store import Store
from mlops_cli.targets.base import DeploySpec


def with_artifact(
    store: Store, target: str, spec: DeploySpec, version: ModelVersion, dry_run: bool
) -> DeploySpec:
    """The local target serves the verified files; image targets need an image of the version."""
    if target == "local":
        from mlops_cli.targets.bundling import local_bundle

        _, bundle = local_bundle(store, version.ref)
        return replace(
            spec, model_dir=bundle, options={**spec.options, **_entry_python(store, version, dry_run)}
        )
    from mlops_cli.deploy.images import image_for

    if target == "kubernetes" and spec.options.get("image"):
        # A registry image the cluster pulls: this machine's engine need not have it.
        return replace(spec, image=spec.options["image"])
    return replace(spec, image=image_for(store, version, spec, build=not dry_run))


def _entry_python(store: Store, version: ModelVersion, dry_run: bool) -> dict[str, str]:
    """An entry script's environment (built now if needed): the local target runs its Python."""
    from mlops_cli.environments.venvs import environment_for
    from mlops_cli.targets.local import envs_dir

    if dry_run or version.entry is None:
        return {}
    environment = environment_for(envs_dir(store), version.entry)
    return {"python": str(environment.python)} if environment else {}
