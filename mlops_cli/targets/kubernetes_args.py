"""The kubectl arguments (after the global flags) of the kubernetes target, shared by `plan`
(what `--dry-run` shows) and `switch` (what runs): one place, so the two never disagree."""

from __future__ import annotations

import math

from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import DeploySpec

# Every kind this target creates, for deleting a deployment's objects by label.
KINDS = "deployment,service,horizontalpodautoscaler,poddisruptionbudget,secret"
# Kinds that one revision may have and the next may not (pruned after a switch).
OPTIONAL_KINDS = "horizontalpodautoscaler,poddisruptionbudget"
KINDS_AFTER_SUCCESS = f"{OPTIONAL_KINDS},secret"


def rollout_status_args(spec: DeploySpec) -> list[str]:
    return ["rollout", "status", f"deployment/{spec.name}", f"--timeout={math.ceil(spec.wait_timeout)}s"]


def delete_args(spec: DeploySpec) -> list[str]:
    return ["delete", KINDS, "--selector", f"{k8s.DEPLOYMENT_LABEL}={spec.name}", "--ignore-not-found"]


def prune_args(spec: DeploySpec, kinds: str, revision: int | None = None) -> list[str]:
    """Delete `kinds` of this deployment labelled with another revision (or with `revision`)."""
    match = f"={revision}" if revision is not None else f"!={spec.revision}"
    selector = f"{k8s.DEPLOYMENT_LABEL}={spec.name},{k8s.REVISION_LABEL}{match}"
    return ["delete", kinds, "--selector", selector, "--ignore-not-found"]


def recovery_args(spec: DeploySpec, previous: DeploySpec | None) -> list[list[str]]:
    """After a failed rollout: undo, restore the previous Service/HPA/PDB (stdin), drop the new
    revision's extra HPA/PDB, wait for the previous pods; or, for a first revision, delete all."""
    if previous is None:
        return [delete_args(spec)]
    return [
        ["rollout", "undo", f"deployment/{spec.name}"],
        ["apply", "-f", "-"],
        prune_args(spec, OPTIONAL_KINDS, revision=spec.revision),
        rollout_status_args(spec),
    ]
