"""The Kubernetes objects of one deployment revision, as plain data (dicts), one small function each.

Plain dicts rather than the `kubernetes` package's typed models: nothing here needs a client,
the YAML is what `kubectl apply -f -` reads, and the tests validate every dict against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict).

What the image `mlops package` builds needs, and why the pod spec looks as it does:
- it runs `python -m mlops_cli.serving --model-dir /model --host 0.0.0.0` as uid 10001 and listens
  on $PORT (8080): the container port is fixed at 8080 and the Service maps `spec.port` to it;
- HOME is /tmp and Python may write temporary files there: with a read-only root filesystem, /tmp
  is an emptyDir; `--collect` writes Parquet files under COLLECT_DIR, another emptyDir (or a
  PersistentVolumeClaim when `collect_claim` names one, so the data outlives the pod);
- the server answers /v2/health/live and /v2/health/ready only once the model is loaded, so a
  startup probe covers loading and the liveness probe starts after it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from mlops_cli.domain import MEMORY_QUANTITY
from mlops_cli.targets.base import IMAGE_USER_ID, DeploySpec, tuning_args

CONTAINER_PORT = 8080
PYTHON = "/opt/venv/bin/python"  # the packaged image's interpreter (packaging/dockerfile.py)
CONTAINER_NAME = "server"
COLLECT_DIR = "/var/lib/mlops/collected"
DEFAULT_CPU = 0.5  # cores, when neither --cpu nor a stored profile gives one
DEFAULT_MEMORY = "512Mi"
API_KEY_KEY = "api-key"
GRACEFUL_SECONDS = 40  # the server drains for up to 30 s after SIGTERM

LABEL_PREFIX = "mlops"
DEPLOYMENT_LABEL = f"{LABEL_PREFIX}/deployment"
REVISION_LABEL = f"{LABEL_PREFIX}/revision"
MODEL_LABEL = f"{LABEL_PREFIX}/model"
VERSION_LABEL = f"{LABEL_PREFIX}/version"
DIGEST_ANNOTATION = f"{LABEL_PREFIX}/digest"
MODEL_ANNOTATION = f"{LABEL_PREFIX}/model"

DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Autoscale:
    """A HorizontalPodAutoscaler's bounds: MIN..MAX pods, scaling at CPU_PERCENT of the request."""

    min: int
    max: int
    cpu_percent: int


@dataclass(frozen=True)
class Settings:
    """The kubernetes target's choices for one revision, already checked."""

    image: str
    namespace: str | None = None
    autoscale: Autoscale | None = None
    collect_claim: str | None = None  # a PersistentVolumeClaim for --collect data
    current_pods: int | None = None  # with autoscale: the pods the cluster runs now, if any


def label_value(text: str) -> str:
    """`text` as a valid label value (63 chars, alphanumeric ends); the annotation keeps it whole."""
    value = LABEL_VALUE_CHARS.sub("-", text)[:63]
    return value.strip("._-")


def secret_name(spec: DeploySpec) -> str:
    return f"{spec.name}-api-key"


def selector(spec: DeploySpec) -> dict[str, str]:
    """What the Service, the PDB and the Deployment select on: the deployment, never the revision
    (a Deployment's selector cannot change, and every revision must be selected)."""
    return {DEPLOYMENT_LABEL: spec.name}


def labels(spec: DeploySpec) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlops-serving",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/managed-by": "mlops",
        DEPLOYMENT_LABEL: spec.name,
        REVISION_LABEL: str(spec.revision),
        MODEL_LABEL: label_value(spec.model),
        VERSION_LABEL: str(spec.version),
    }


def annotations(spec: DeploySpec) -> dict[str, str]:
    return {
        MODEL_ANNOTATION: spec.model,
        VERSION_LABEL: str(spec.version),
        DIGEST_ANNOTATION: spec.digest,
        REVISION_LABEL: str(spec.revision),
    }


def metadata(spec: DeploySpec, settings: Settings, name: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name or spec.name}
    if settings.namespace:
        meta["namespace"] = settings.namespace
    meta["labels"] = labels(spec)
    meta["annotations"] = annotations(spec)
    return meta


def cpu_quantity(cores: float) -> str:
    return f"{max(1, math.ceil(cores * 1000))}m"


def resources(spec: DeploySpec) -> dict[str, Any]:
    """Requests equal to limits (Guaranteed QoS when both are set): the profile measured these."""
    cpu = cpu_quantity(spec.cpu if spec.cpu is not None else DEFAULT_CPU)
    memory = spec.memory or DEFAULT_MEMORY
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def startup_probe(spec: DeploySpec, failures: int) -> dict[str, Any]:
    """Ready AND the smoke inference on the version's own sample, run inside the container: a
    pod takes traffic only after it (readiness probes start once this has passed). Without a
    smoke request (a bare DeploySpec), liveness of the server alone."""
    smoke = spec.options.get("smoke")
    if not smoke:
        return probe("/v2/health/live", 2, failures)
    command = [PYTHON, "-m", "mlops_cli.serving.smoke_probe", "--port", str(CONTAINER_PORT)]
    command += ["--model", spec.model, "--smoke", json.dumps(smoke, sort_keys=True, separators=(",", ":"))]
    if spec.api_key_env:
        command += ["--api-key-env", spec.api_key_env]
    return {
        "exec": {"command": command},
        "periodSeconds": 2,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }


def server_args(spec: DeploySpec) -> list[str]:
    """Arguments after the image's ENTRYPOINT (which already sets --model-dir and --host)."""
    args: list[str] = tuning_args(spec)
    if spec.options.get("workers"):  # a confirmed profile's workers, in every pod
        args += ["--workers", str(int(spec.options["workers"]))]
    if spec.api_key_env:
        args += ["--api-key-env", spec.api_key_env]
    if spec.collect:
        args += ["--collect", COLLECT_DIR]
    return args


def env(spec: DeploySpec) -> list[dict[str, Any]]:
    """The user's variables, then the API key from the Secret: never a literal in the Deployment."""
    items: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(spec.env.items())]
    if spec.api_key_env:
        items.append(
            {
                "name": spec.api_key_env,
                "valueFrom": {"secretKeyRef": {"name": secret_name(spec), "key": API_KEY_KEY}},
            }
        )
    return items


def container(spec: DeploySpec, settings: Settings) -> dict[str, Any]:
    startup_failures = max(3, math.ceil(spec.wait_timeout / 2))
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.collect:
        mounts.append({"name": "collected", "mountPath": COLLECT_DIR})
    body: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
    }
    if server_args(spec):
        body["args"] = server_args(spec)
    if env(spec):
        body["env"] = env(spec)
    body.update(
        {
            "resources": resources(spec),
            "startupProbe": startup_probe(spec, startup_failures),
            "livenessProbe": probe("/v2/health/live", 10, 3),
            "readinessProbe": probe("/v2/health/ready", 5, 3),
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": IMAGE_USER_ID,
                "runAsGroup": IMAGE_USER_ID,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": mounts,
        }
    )
    return body


def volumes(spec: DeploySpec, settings: Settings) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}]
    if spec.collect:
        if settings.collect_claim:
            items.append(
                {"name": "collected", "persistentVolumeClaim": {"claimName": settings.collect_claim}}
            )
        else:
            items.append({"name": "collected", "emptyDir": {}})
    return items


def deployment(spec: DeploySpec, settings: Settings) -> dict[str, Any]:
    """The Deployment. Its pod count is `--replicas`; with an autoscaler, the count the cluster
    runs now (`settings.current_pods`, kept within MIN..MAX) so a switch neither resets what the
    HPA chose nor, by leaving the field out, lets `kubectl apply` fall back to 1 pod."""
    body: dict[str, Any] = {"replicas": pods(spec, settings)}
    body.update(
        {
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": max(10, math.ceil(spec.wait_timeout)),
            "selector": {"matchLabels": selector(spec)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(spec), "annotations": annotations(spec)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": GRACEFUL_SECONDS,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": IMAGE_USER_ID,
                        "runAsGroup": IMAGE_USER_ID,
                        "fsGroup": IMAGE_USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container(spec, settings)],
                    "volumes": volumes(spec, settings),
                },
            },
        }
    )
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(spec, settings), "spec": body}


def service(spec: DeploySpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(spec, settings),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec),
            "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(spec: DeploySpec, settings: Settings, scale: Autoscale) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec, settings),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": scale.min,
            "maxReplicas": scale.max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scale.cpu_percent},
                    },
                }
            ],
        },
    }


def disruption_budget(spec: DeploySpec, settings: Settings) -> dict[str, Any]:
    """At most one pod away at a time during node drains, so more than one pod keeps serving."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec, settings),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(spec)}},
    }


def api_key_secret(spec: DeploySpec, settings: Settings, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(spec, settings, secret_name(spec)),
        "type": "Opaque",
        "stringData": {API_KEY_KEY: value},
    }


def minimum_pods(spec: DeploySpec, settings: Settings) -> int:
    return settings.autoscale.min if settings.autoscale else spec.replicas


def pods(spec: DeploySpec, settings: Settings) -> int:
    scale = settings.autoscale
    if scale is None:
        return spec.replicas
    return min(max(settings.current_pods or scale.min, scale.min), scale.max)


def manifests(spec: DeploySpec, settings: Settings, api_key: str | None = None) -> list[dict[str, Any]]:
    """Every object of the revision, in apply order: Secret, Service, Deployment, HPA, PDB.

    `api_key` is the key's value (the Secret's content); None leaves the Secret out even when
    `spec.api_key_env` is set (the plan shows a placeholder instead, see `redacted_secret`).
    """
    docs: list[dict[str, Any]] = []
    if spec.api_key_env and api_key is not None:
        docs.append(api_key_secret(spec, settings, api_key))
    docs += [service(spec, settings), deployment(spec, settings)]
    if settings.autoscale:
        docs.append(autoscaler(spec, settings, settings.autoscale))
    if minimum_pods(spec, settings) > 1:
        docs.append(disruption_budget(spec, settings))
    return docs


def to_yaml(docs: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream, keys in the order written above (readable plans)."""
    import yaml

    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return [f"{doc['kind']}/{doc['metadata']['name']}" for doc in docs]


def check_name(what: str, name: str) -> None:
    """Kubernetes object and namespace names: DNS labels (RFC 1123). ValueError otherwise."""
    if not DNS_LABEL.fullmatch(name):
        raise ValueError(
            f"{what} {name!r} is not a valid Kubernetes name: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters"
        )


def check_memory(memory: str) -> None:
    if not MEMORY_QUANTITY.fullmatch(memory):
        raise ValueError(f"memory {memory!r} is not a Kubernetes quantity such as 512Mi or 1Gi")
