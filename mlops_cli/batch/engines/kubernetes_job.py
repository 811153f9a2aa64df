"""The Indexed Job of `score-batch --target kubernetes`, as plain data (validated in tests).

N pods, each `python -m mlops_cli.batch.engines.shard --shard $(JOB_COMPLETION_INDEX)/N`, read
the inputs from object storage and publish `scores-I-of-N.<format>` under the output prefix.
The pod runs as the packaged image's user with a read-only root filesystem; /tmp (the shard's
scratch folder) is an emptyDir. Credentials come from a Secret (`envFrom`), never a literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import IMAGE_USER_ID

CONTAINER = "score"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_LABEL = f"{k8s.LABEL_PREFIX}/score-job"
RETRIES_PER_INDEX = 2
KEEP_SECONDS = 86_400  # the finished Job and its pods (and logs) stay a day
DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"


@dataclass(frozen=True)
class JobSpec:
    """One score-batch run on a cluster: what the manifest is built from."""

    name: str  # the Job's name (a DNS label)
    job_id: str
    model: str
    version: int
    digest: str
    image: str
    parallelism: int
    shard_args: tuple[str, ...]  # the shard's options except --shard
    namespace: str | None = None
    secret: str | None = None  # a Secret whose keys become the pods' environment (credentials)
    env: tuple[tuple[str, str], ...] = ()
    cpu: str = DEFAULT_CPU
    memory: str = DEFAULT_MEMORY


def job_name(model: str, job_id: str) -> str:
    """`score-<model>-<job suffix>`, a valid DNS label of at most 63 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-") or "model"
    suffix = job_id.rsplit("-", 1)[-1]
    return f"score-{base[: 63 - len(suffix) - 7].strip('-')}-{suffix}"


def check_parallelism(parallelism: int) -> None:
    if not 1 <= parallelism <= 10_000:
        raise UsageError(f"--parallelism must be between 1 and 10000, not {parallelism}")


def labels(spec: JobSpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlops-score-batch",
        "app.kubernetes.io/managed-by": "mlops",
        JOB_LABEL: k8s.label_value(spec.job_id),
        k8s.MODEL_LABEL: k8s.label_value(spec.model),
        k8s.VERSION_LABEL: str(spec.version),
    }


def container_args(spec: JobSpec) -> list[str]:
    """The shard's argv: kubelet expands $(JOB_COMPLETION_INDEX) from the env set below."""
    return [*spec.shard_args, "--shard", f"$(JOB_COMPLETION_INDEX)/{spec.parallelism}"]


def indexed_job(spec: JobSpec) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        meta["namespace"] = spec.namespace
    meta["labels"] = labels(spec)
    meta["annotations"] = {k8s.MODEL_ANNOTATION: spec.model, k8s.DIGEST_ANNOTATION: spec.digest}
    env: list[dict[str, Any]] = [
        {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}},
        },
        {"name": "HOME", "value": "/tmp"},
        *({"name": key, "value": value} for key, value in spec.env),
    ]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [k8s.PYTHON, "-m", "mlops_cli.batch.engines.shard"],
        "args": container_args(spec),
        "env": env,
    }
    if spec.secret:
        container["envFrom"] = [{"secretRef": {"name": spec.secret}}]
    container.update(
        {
            "resources": {
                "requests": {"cpu": spec.cpu, "memory": spec.memory},
                "limits": {"cpu": spec.cpu, "memory": spec.memory},
            },
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": IMAGE_USER_ID,
                "runAsGroup": IMAGE_USER_ID,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
    )
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "fsGroup": IMAGE_USER_ID},
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.parallelism,
            "parallelism": spec.parallelism,
            "backoffLimitPerIndex": RETRIES_PER_INDEX,
            "ttlSecondsAfterFinished": KEEP_SECONDS,
            "template": {"metadata": {"labels": labels(spec)}, "spec": pod},
        },
    }
