"""`score-batch --target kubernetes`: an Indexed Job of N shards, applied and followed with kubectl.

Every call to the cluster goes through the kubectl runner (targets/kubectl.py). The output is
all-or-nothing at the prefix level: the old `_SUCCESS` marker is removed before the Job starts,
each pod publishes its shard as one object, and `_SUCCESS` (a JSON manifest naming every shard
object, its size and ETag) is written only after `kubectl wait` saw the Job complete. A reader
waits for `_SUCCESS`; a failed or interrupted run leaves none, and a rerun overwrites the shards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from mlops_cli import storage
from mlops_cli.audit.provenance import provenance
from mlops_cli.batch.checkpoint import new_job_id
from mlops_cli.batch.engines.kubernetes_job import JobSpec, check_parallelism, indexed_job, job_name
from mlops_cli.batch.inputs import resolve_inputs
from mlops_cli.batch.records import KIND, failure_recorded
from mlops_cli.batch.request import ScoreRequest
from mlops_cli.batch.run import check_inputs
from mlops_cli.domain import ModelRef
from mlops_cli.errors import ExternalToolError, UsageError
from mlops_cli.runtime.loader import resolve_onnx
from mlops_cli.runtime.mapping import schema_from_signature
from mlops_cli.storage import prefixes
from mlops_cli.store import Store
from mlops_cli.store import jobs as job_store
from mlops_cli.targets.kubectl import Kubectl, KubectlError

SUCCESS = prefixes.SUCCESS
WAIT_STEP = 15  # seconds per `kubectl wait`; between two, the Job is checked for failure
LOG_LINES = 20
PODS_SHOWN = 3


class ShardsFailedError(ExternalToolError):
    """The Job failed; `log_tail` holds the failed pods' states and log lines."""

    def __init__(self, message: str, hint: str | None, log_tail: list[str]) -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail


@dataclass(frozen=True)
class ClusterOptions:
    parallelism: int
    image: str | None = None
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    secret: str | None = None
    timeout: float = 3600.0


def score_on_kubernetes(
    store: Store, request: ScoreRequest, options: ClusterOptions, *, dry_run: bool = False
) -> dict[str, Any]:
    """Plan (dry run) or run the Indexed Job; returns {"job", "manifest", "yaml", "commands", ...}.

    Raises UsageError for local paths (pods read and write object storage only), KubectlError
    and friends when kubectl or the cluster fail, ShardsFailedError when a shard fails.
    """
    request.validate()
    check_parallelism(options.parallelism)
    if request.shard != (0, 1):
        raise UsageError("--shard and --target kubernetes: the Job gives each pod its own shard")
    for path in (*request.inputs, str(request.output)):
        if not storage.is_url(storage.local_path(path)):
            raise UsageError(
                f"{path}: pods read and write object storage, not this machine's files",
                hint="give s3://, gs:// or az:// URLs for --input and --output",
            )
    if request.errors_output is not None:
        raise UsageError("--errors-output is for the local engine")
    model = resolve_onnx(store, request.model)
    name, version = model.ref.rsplit(":", 1)
    prefix = str(request.output).rstrip("/") + "/"
    fmt = request.output_format or "parquet"
    job_id = new_job_id()
    spec = JobSpec(
        name=job_name(name, job_id),
        job_id=job_id,
        model=name,
        version=int(version),
        digest=model.digest,
        image=options.image or _packaged_image(store, model.ref),
        parallelism=options.parallelism,
        shard_args=tuple(_shard_args(request, prefix, fmt)),
        namespace=options.namespace,
        secret=options.secret,
    )
    kubectl = Kubectl(options.context, options.kubeconfig, options.namespace)
    manifest = indexed_job(spec)
    text = _yaml(manifest)
    wait = ["wait", "--for=condition=complete", f"job/{spec.name}", f"--timeout={WAIT_STEP}s"]
    plan = {
        "job": spec.name,
        "manifest": manifest,
        "yaml": text,
        "commands": [kubectl.argv("apply", "-f", "-"), kubectl.argv(*wait)],
        "outputs": [
            storage.join(prefix, _shard_name(request, i, spec.parallelism, fmt))
            for i in range(spec.parallelism)
        ],
        "success_marker": storage.join(prefix, SUCCESS),
    }
    if dry_run:
        return {**plan, "dry_run": True}

    files = resolve_inputs(request.inputs)  # the inputs exist and the credentials work, here first
    schema = schema_from_signature(model.signature, request.features or None)
    check_inputs(files, schema, request, prefix, None)
    storage.check_writable(prefix, "--output")
    prov = provenance(request.message)
    details = {"engine": "kubernetes", "kubernetes": {"job": spec.name, "namespace": options.namespace,
               "parallelism": options.parallelism, "image": spec.image}, "request": request.to_dict(),
               "output": prefix, "inputs": [f.identity() for f in files]}  # fmt: skip
    started = time.monotonic()
    marker = storage.join(prefix, SUCCESS)
    with failure_recorded(store, job_id, prov):
        job = job_store.create_job(store.conn, job_id, KIND, model.ref, model.digest, details, prov)
        prefixes.start_rewrite(prefix)  # from here on, readers know the prefix is being rewritten
        kubectl.run("apply", "-f", "-", input=text)
        _follow(kubectl, spec, wait, options.timeout)
        facts = {"model": model.ref, "job": job_id}
        shards = prefixes.finish(prefix, plan["outputs"], facts, listing="shards")
    final = {"output": {"path": prefix, "format": fmt, "sha256": None, "rows": None,
             "size": sum(s["size"] for s in shards), "shards": shards, "success_marker": marker},
             "duration_s": round(time.monotonic() - started, 3), "error": None}  # fmt: skip
    finished = job_store.finish_job(store.conn, job.id, "completed", final, prov)
    return {**plan, "dry_run": False, "record": finished}


def _shard_name(request: ScoreRequest, index: int, count: int, fmt: str) -> str:
    """The object a shard's pod writes under the prefix (the local engine's folder naming)."""
    return replace(request, shard=(index, count)).output_name(fmt)


def _shard_args(request: ScoreRequest, prefix: str, fmt: str) -> list[str]:
    args = ["--model-dir", "/model"]
    for item in request.inputs:
        args += ["--input", item]
    args += ["--output", prefix, "--output-format", fmt, "--batch-size", str(request.batch_size)]
    if request.features:
        args += ["--features", ",".join(request.features)]
    if request.passthrough:
        args += ["--passthrough", ",".join(request.passthrough)]
    args += ["--on-error", request.on_error]
    if request.max_error_rate is not None:
        args += ["--max-error-rate", str(request.max_error_rate)]
    return args


def _packaged_image(store: Store, ref: str) -> str:
    """The newest image `mlops package REF --with-batch` built (one that can run the shards)."""
    images = job_store.list_artifacts(store.conn, ModelRef.parse(ref), "image")
    batch = [image for image in images if image.details.get("with_batch")]
    if not batch:
        raise UsageError(
            f"{ref} has no image that can run score-batch shards",
            hint=f"give --image, or build one: mlops package {ref} --with-batch",
        )
    return batch[-1].ref


def _yaml(manifest: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(manifest, sort_keys=False)


def _follow(kubectl: Kubectl, spec: JobSpec, wait: list[str], timeout: float) -> None:
    """`kubectl wait` in steps until Complete; between steps, a Failed Job stops the wait."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kubectl.run(*wait, timeout=WAIT_STEP + 30)
            return
        except KubectlError as exc:
            if "timed out" not in exc.stderr.lower() and "timed out" not in exc.message.lower():
                raise
        found = kubectl.run_json("get", "job", spec.name)
        failed = [c for c in found.get("status", {}).get("conditions", []) if c.get("type") == "Failed"]
        if failed and failed[0].get("status") == "True":
            reason = f"{failed[0].get('reason')}: {failed[0].get('message')}"
            raise ShardsFailedError(
                f"the Job {spec.name} failed ({reason})",
                hint=f"`kubectl logs job/{spec.name}` and `kubectl describe job {spec.name}` tell more",
                log_tail=failed_pod_logs(kubectl, spec),
            )
        if time.monotonic() > deadline:
            raise ExternalToolError(f"the Job {spec.name} did not complete within {timeout:.0f}s")


def failed_pod_logs(kubectl: Kubectl, spec: JobSpec) -> list[str]:
    """The failed pods' index, state and last log lines; a read that fails says so in a line."""
    from mlops_cli.targets.kubernetes_status import pod_state

    selector = f"batch.kubernetes.io/job-name={spec.name}"
    try:
        pods = kubectl.run_json("get", "pods", "--selector", selector).get("items", [])
    except KubectlError as exc:
        return [f"(could not read the pods: {exc.message})"]
    failed = [p for p in pods if p.get("status", {}).get("phase") == "Failed"][:PODS_SHOWN]
    lines: list[str] = []
    for pod in failed:
        name = pod["metadata"]["name"]
        index = pod["metadata"].get("annotations", {}).get("batch.kubernetes.io/job-completion-index", "?")
        lines.append(f"pod {name} (shard {index}/{spec.parallelism}): {pod_state(pod)}")
        try:
            log = kubectl.run("logs", name, "--container", "score", "--tail", str(LOG_LINES))
            lines += [f"  {line}" for line in log.splitlines()]
        except KubectlError as exc:
            lines.append(f"  (no log: {exc.message})")
    return lines
