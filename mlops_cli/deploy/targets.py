"""Which class implements each target, imported lazily (docker and kubernetes pull in SDKs)."""

from __future__ import annotations

import importlib

from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.targets.base import Target

TARGETS = {
    "local": "mlops_cli.targets.local_target:LocalTarget",
    "docker": "mlops_cli.targets.docker_target:DockerTarget",
    "kubernetes": "mlops_cli.targets.kubernetes:KubernetesTarget",
}


def load_target(name: str) -> Target:
    """An instance of the target NAME; UsageError for an unknown name, MlopsError when missing."""
    location = TARGETS.get(name)
    if location is None:
        raise UsageError(f"unknown target {name!r}", hint=f"use one of: {', '.join(TARGETS)}")
    module_name, _, attribute = location.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise MlopsError(
            f"the {name} target is not part of this build of mlops ({module_name} is missing)"
        ) from None
    return getattr(module, attribute)()
