"""Reading a kubernetes deployment's state: the revision's pods (ready, waiting, crashed), their
events and log tails after a failed rollout, and `observe` for `deploy status`. Also used by
score-batch's Indexed Jobs to describe failed pods."""

from __future__ import annotations

from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import DeploySpec, RevisionState
from mlops_cli.targets.kubectl import Kubectl, KubectlError

FAILING_PODS_SHOWN = 3
LOG_LINES_PER_POD = 20
STATUS_TIMEOUT = 30.0


def failure_report(kubectl: Kubectl, spec: DeploySpec) -> list[str]:
    """The failing pods of `spec`'s revision: state, events and log tails, as lines to show.

    Read before the undo removes the pods. A read that fails becomes a line saying so: the
    report must not hide the rollout failure behind a second error.
    """
    lines: list[str] = []
    selector = f"{k8s.DEPLOYMENT_LABEL}={spec.name},{k8s.REVISION_LABEL}={spec.revision}"
    try:
        found = kubectl.run_json("get", "deployment", spec.name, timeout=STATUS_TIMEOUT)
        for condition in found.get("status", {}).get("conditions", []):
            if condition.get("status") != "True" or condition.get("type") == "ReplicaFailure":
                lines.append(f"deployment {condition.get('type')}: {condition_text(condition)}")
        pods = kubectl.run_json("get", "pods", "--selector", selector, timeout=STATUS_TIMEOUT).get(
            "items", []
        )
    except KubectlError as exc:
        return [*lines, f"(could not read the pods: {exc.message})"]
    failing = [pod for pod in pods if not pod_ready(pod)][:FAILING_PODS_SHOWN]
    if not pods:
        lines.append(f"no pod of revision {spec.revision} was created")
    for pod in failing:
        name = pod["metadata"]["name"]
        lines.append(f"pod {name}: {pod_state(pod)}")
        try:
            events = kubectl.run_json(
                "get", "events", "--field-selector", f"involvedObject.name={name}", timeout=STATUS_TIMEOUT
            ).get("items", [])
            for event in sorted(events, key=event_time):
                count = f" (x{event['count']})" if event.get("count", 1) > 1 else ""
                lines.append(
                    f"  {event.get('type')} {event.get('reason')}: {event.get('message', '').strip()}{count}"
                )
        except KubectlError as exc:
            lines.append(f"  (could not read its events: {exc.message})")
        try:
            log = kubectl.run(
                "logs",
                name,
                "--container",
                k8s.CONTAINER_NAME,
                "--tail",
                str(LOG_LINES_PER_POD),
                timeout=STATUS_TIMEOUT,
            )
            lines += [f"  | {line}" for line in log.splitlines()]
        except KubectlError as exc:
            lines.append(f"  (no log: {exc.message})")
    return lines


def pod_ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def pod_state(pod: dict) -> str:
    """`Pending`, `Running, server waiting: CrashLoopBackOff (back-off ...)`, ..."""
    status = pod.get("status", {})
    parts = [status.get("phase", "Unknown")]
    for container in status.get("containerStatuses", []):
        for key, state in (container.get("state") or {}).items():
            if key in ("waiting", "terminated"):
                reason = state.get("reason") or ""
                message = state.get("message") or (
                    f"exit code {state['exitCode']}" if "exitCode" in state else ""
                )
                parts.append(
                    f"{container.get('name')} {key}: {reason}" + (f" ({message})" if message else "")
                )
        if container.get("restartCount"):
            parts.append(f"restarted {container['restartCount']} times")
    return ", ".join(parts)


def condition_text(condition: dict) -> str:
    return f"{condition.get('reason')}: {condition.get('message')}"


def event_time(event: dict) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp") or ""


def observe(found: dict, spec: DeploySpec) -> RevisionState:
    """A RevisionState from `kubectl get deployment -o json`: pods ready vs desired, the revision
    and model the pod template carries, and whether the rollout finished."""
    meta, body, status = found.get("metadata", {}), found.get("spec", {}), found.get("status", {})
    template = body.get("template", {}).get("metadata", {})
    labels, notes = template.get("labels", {}), template.get("annotations", {})
    desired = int(body.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    revision = labels.get(k8s.REVISION_LABEL)
    settled = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    rolled_out = settled and updated == desired and total == updated
    is_spec = revision == str(spec.revision)
    model = f"{notes.get(k8s.MODEL_ANNOTATION)} v{labels.get(k8s.VERSION_LABEL)}"
    detail = f"{ready}/{desired} pods ready, revision {revision} ({model})"
    if not rolled_out:
        detail += f"; rollout in progress ({updated}/{desired} updated)"
    problems = [
        condition_text(c)
        for c in status.get("conditions", [])
        if c.get("status") != "True" or c.get("type") == "ReplicaFailure"
    ]
    if problems:
        detail += "; " + "; ".join(problems)
    if not is_spec:
        detail += f"; the cluster runs revision {revision}, not {spec.revision}"
    namespace = meta.get("namespace") or "default"
    containers = body.get("template", {}).get("spec", {}).get("containers", [])
    return RevisionState(
        running=available > 0 or ready > 0,
        ready=is_spec and rolled_out and desired > 0 and ready >= desired,
        detail=detail,
        endpoint=f"http://{spec.name}.{namespace}.svc.cluster.local:{spec.port}",
        info={
            "found": True,
            "namespace": namespace,
            "desired": desired,
            "ready": ready,
            "updated": updated,
            "available": available,
            "revision": int(revision) if revision and revision.isdigit() else revision,
            "model": notes.get(k8s.MODEL_ANNOTATION),
            "version": labels.get(k8s.VERSION_LABEL),
            "digest": notes.get(k8s.DIGEST_ANNOTATION),
            "image": containers[0].get("image") if containers else None,
            "problems": problems,
        },
    )
