"""The kubernetes target: a deployment revision as a Deployment (+ Service, HPA, PDB, Secret),
applied and watched with kubectl.

Options come from `DeploySpec.options`: `namespace`, `context`, `kubeconfig`, `image` (already in
a registry the cluster pulls from) or `push` (a repository: the local `spec.image` is tagged and
pushed with the docker SDK, and the cluster runs it by digest), `autoscale` ((MIN, MAX, CPU%) or
"MIN:MAX:CPU%" or None) and `collect_claim` (a PersistentVolumeClaim for `--collect` data).

A switch is `kubectl apply -f -` then `kubectl rollout status --timeout`: the rolling update
(maxUnavailable 0) only retires an old pod once a new one passes its readiness probe, so the
old revision keeps serving until the new one is ready. When the rollout fails or is interrupted,
the failing pods' state, events and log tails are read, `kubectl rollout undo` restores the
previous pod template (or, for a first revision, everything is deleted), and RolloutFailedError
(exit 5, a check that failed) carries what was read. kubectl itself failing is exit 4.

Beside it: kubernetes_manifests.py (the objects), kubernetes_args.py (the kubectl arguments
`plan` shows and `switch` runs), kubernetes_status.py (pods, events, logs; `observe`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlops_cli.errors import CheckFailedError, UsageError
from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import DeploySpec, RevisionState
from mlops_cli.targets.kubectl import (
    ClusterUnreachableError,
    ContextNotFoundError,
    Kubectl,
    KubectlError,
    useful_line,
)
from mlops_cli.targets.kubernetes_args import (
    KINDS_AFTER_SUCCESS,
    delete_args,
    prune_args,
    recovery_args,
    rollout_status_args,
)
from mlops_cli.targets.kubernetes_status import STATUS_TIMEOUT, failure_report, observe

ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


class RolloutFailedError(CheckFailedError):
    """The new revision never became ready; it was undone. `log_tail` holds what the cluster said
    about the failing pods (state, events, log lines)."""

    def __init__(self, message: str, hint: str | None, log_tail: list[str]) -> None:
        super().__init__(message, hint, report={"log_tail": log_tail})
        self.log_tail = log_tail


def parse_autoscale(value: Any) -> k8s.Autoscale | None:
    """(MIN, MAX, CPU%) or "MIN:MAX:CPU%" as Autoscale; None stays None. UsageError when invalid."""
    if value is None:
        return None
    if isinstance(value, k8s.Autoscale):
        parts: list[Any] = [value.min, value.max, value.cpu_percent]
    elif isinstance(value, str):
        parts = value.split(":")
    else:
        parts = list(value)
    try:
        low, high, cpu = (int(part) for part in parts)
    except (TypeError, ValueError):
        raise UsageError(
            f"--autoscale {value!r} is not MIN:MAX:CPU%", hint="for example --autoscale 2:10:70"
        ) from None
    if not 1 <= low <= high:
        raise UsageError(f"--autoscale {value!r}: need 1 <= MIN <= MAX")
    if not 1 <= cpu <= 1000:
        raise UsageError(f"--autoscale {value!r}: CPU% must be between 1 and 1000")
    return k8s.Autoscale(low, high, cpu)


def same_place(spec: DeploySpec, previous: DeploySpec | None) -> None:
    """A deployment stays in its cluster and namespace: undo and pruning work only there."""
    if previous is None:
        return
    keys = ("kubeconfig", "context", "namespace")
    before, now = ([revision.options.get(key) or None for key in keys] for revision in (previous, spec))
    if before != now:
        raise UsageError(
            f"{spec.name} runs with kubeconfig, context, namespace = {before}; it cannot move to {now}",
            hint="delete it first (`mlops deploy delete`), or deploy under another --name",
        )


def push_tag(spec: DeploySpec) -> str:
    """The tag a pushed image gets: model, version and the digest's start (unique per version)."""
    suffix = spec.digest.split(":", 1)[-1][:12]
    if spec.others:  # a multi-model image: its own tag, never the first version's alone
        every = " ".join([spec.digest, *(o["digest"] for o in spec.others)])
        suffix = "set-" + hashlib.sha256(every.encode()).hexdigest()[:12]
    return f"{k8s.label_value(spec.model) or 'model'}-v{spec.version}-{suffix}"


class KubernetesTarget:
    """`Target` for Kubernetes, through kubectl (targets/kubectl.py) only."""

    name = "kubernetes"

    # --- the interface ---------------------------------------------------------------------

    def plan(self, spec: DeploySpec, previous: DeploySpec | None) -> dict[str, Any]:
        """The YAML and the kubectl command lines a switch would run; changes nothing (no push)."""
        kubectl = self._kubectl(spec)
        image, push = self._image(spec)
        settings = self._settings(spec, image)
        same_place(spec, previous)
        placeholder = f"<the value of ${spec.api_key_env}, not shown>" if spec.api_key_env else None
        if spec.api_key_env:
            self._api_key(spec)  # fail now, as the switch would
        docs = k8s.manifests(spec, settings, api_key=placeholder)
        return {
            "target": self.name,
            "name": spec.name,
            "revision": spec.revision,
            "namespace": kubectl.namespace,
            "context": kubectl.context,
            "kubeconfig": kubectl.kubeconfig,
            "image": image,
            "push": push,
            "objects": k8s.kinds(docs),
            "yaml": k8s.to_yaml(docs),
            "commands": [
                kubectl.argv("apply", "-f", "-"),
                kubectl.argv(*rollout_status_args(spec)),
                kubectl.argv(*prune_args(spec, KINDS_AFTER_SUCCESS)),
            ],
            "on_failure": [kubectl.argv(*args) for args in recovery_args(spec, previous)],
        }

    def switch(self, spec: DeploySpec, previous: DeploySpec | None) -> RevisionState:
        """Apply `spec`'s objects and wait for the rollout; undo it when it fails (see module doc).

        Raises UsageError for impossible settings, RolloutFailedError (exit 5) when the revision
        never became ready, ExternalToolError (exit 4) when kubectl or docker failed.
        """
        kubectl = self._kubectl(spec)
        api_key = self._api_key(spec) if spec.api_key_env else None
        image, push = self._image(spec)
        settings = self._settings(spec, image)  # every check before anything is pushed or applied
        same_place(spec, previous)
        if settings.autoscale is not None:
            settings = replace(settings, current_pods=self.status(spec).info.get("desired"))
        if push is not None:
            from mlops_cli.targets import docker

            settings = replace(settings, image=docker.push(push["image"], push["repository"], push["tag"]))
        try:
            kubectl.run("apply", "-f", "-", input=k8s.to_yaml(k8s.manifests(spec, settings, api_key)))
        except (ClusterUnreachableError, ContextNotFoundError):
            raise
        except KubectlError as refused:
            # apply is object by object: when a later object was refused, the Deployment may
            # already roll the new revision out, unwatched. Then undo it like a failed rollout.
            try:
                changed = self.status(spec).info.get("revision") == spec.revision
            except KubectlError:
                raise refused from None
            if changed:
                self._recover(kubectl, spec, previous)
            raise
        try:
            self._wait(kubectl, spec)
        except ClusterUnreachableError as exc:
            exc.hint = (
                "the rollout may still be going on: `mlops deploy status` shows it once the cluster answers"
            )
            raise
        except KubectlError as exc:
            reason = useful_line(exc.stderr).removeprefix("error: ") if exc.stderr else exc.message
            self._fail(kubectl, spec, previous, reason)
        except KeyboardInterrupt:
            self._recover(kubectl, spec, previous)
            raise
        kubectl.run(*prune_args(spec, KINDS_AFTER_SUCCESS))
        return self.status(spec)

    def status(self, spec: DeploySpec) -> RevisionState:
        """What the cluster runs for this deployment: the Deployment's status, not the record."""
        kubectl = self._kubectl(spec)
        try:
            found = kubectl.run_json("get", "deployment", spec.name, timeout=STATUS_TIMEOUT)
        except KubectlError as exc:
            if not exc.not_found:
                raise
            where = f" in namespace {kubectl.namespace}" if kubectl.namespace else ""
            return RevisionState(False, False, f"no Deployment {spec.name}{where}", info={"found": False})
        return observe(found, spec)

    def settle(self, spec: DeploySpec, previous: DeploySpec | None, state: RevisionState) -> None:
        """Nothing to wait for: the rolling update retired the old pods before `switch` returned."""

    def serves(self, spec: DeploySpec) -> bool:
        """Whether the cluster's Deployment runs `spec`'s revision, rolled out and ready."""
        return self.status(spec).ready

    def discard(self, spec: DeploySpec, current: DeploySpec | None) -> None:
        """Undo a revision whose deployer was stopped before it was ready (as a failed rollout)."""
        self._recover(self._kubectl(spec), spec, current)

    def logs(self, spec: DeploySpec, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        """`kubectl logs deployment/NAME` (one of its pods, as kubectl picks)."""
        args = ["logs", f"deployment/{spec.name}", "--container", k8s.CONTAINER_NAME]
        if follow:
            args.append("--follow")
        if tail is not None:
            args += ["--tail", str(tail)]
        return self._kubectl(spec).stream(*args)

    def delete(self, spec: DeploySpec) -> None:
        """Delete every object of the deployment (all revisions), found by its label."""
        kubectl = self._kubectl(spec)
        kubectl.run(*delete_args(spec), timeout=max(kubectl.timeout, spec.wait_timeout + 30))

    # --- settings --------------------------------------------------------------------------

    def _kubectl(self, spec: DeploySpec) -> Kubectl:
        options = spec.options
        try:
            k8s.check_name("deployment name", spec.name)
            if options.get("namespace"):
                k8s.check_name("namespace", options["namespace"])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        kubeconfig = options.get("kubeconfig")
        if kubeconfig:
            kubeconfig = str(Path(kubeconfig).expanduser())
            if not Path(kubeconfig).is_file():
                raise UsageError(f"--kubeconfig {kubeconfig}: no such file")
        return Kubectl(
            context=options.get("context") or None,
            kubeconfig=kubeconfig or None,
            namespace=options.get("namespace") or None,
        )

    def _image(self, spec: DeploySpec) -> tuple[str, dict[str, str] | None]:
        """The image the cluster runs, and what to push first (None: nothing)."""
        image, repository = spec.options.get("image"), spec.options.get("push")
        if image and repository:
            raise UsageError("--image and --push exclude each other: give one")
        if image:
            return image, None
        if not repository:
            raise UsageError(
                "the kubernetes target needs an image the cluster can pull",
                hint="pass --image REGISTRY/NAME:TAG, or --push REPO to tag and push the packaged image",
            )
        if not spec.image:
            raise UsageError("--push needs a local image to push: package the version first")
        tag = push_tag(spec)
        # Until pushed, the digest is unknown: the plan names the tag, the switch runs the digest.
        return f"{repository}:{tag}", {"image": spec.image, "repository": repository, "tag": tag}

    def _settings(self, spec: DeploySpec, image: str) -> k8s.Settings:
        if spec.replicas < 1:
            raise UsageError("--replicas must be at least 1")
        if not 0 < spec.port < 65536:
            raise UsageError(f"--port {spec.port} is not a port number")
        if spec.cpu is not None and spec.cpu <= 0:
            raise UsageError("--cpu must be positive")
        claim = spec.options.get("collect_claim") or None
        for variable in [*spec.env, *([spec.api_key_env] if spec.api_key_env else [])]:
            if not ENV_NAME.fullmatch(variable):
                raise UsageError(f"{variable!r} is not a valid environment variable name for Kubernetes")
        try:
            if spec.memory is not None:
                k8s.check_memory(spec.memory)
            if claim:
                k8s.check_name("collect claim", claim)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return k8s.Settings(
            image=image,
            namespace=spec.options.get("namespace") or None,
            autoscale=parse_autoscale(spec.options.get("autoscale")),
            collect_claim=claim,
        )

    def _api_key(self, spec: DeploySpec) -> str:
        value = os.environ.get(spec.api_key_env or "")
        if not value:
            raise UsageError(
                f"--api-key-env {spec.api_key_env}: that environment variable is empty or unset",
                hint=f"export {spec.api_key_env}=<a long random key>",
            )
        return value

    # --- switching ------------------------------------------------------------------------

    def _wait(self, kubectl: Kubectl, spec: DeploySpec) -> None:
        # kubectl's own --timeout ends the wait; ours only catches a kubectl that hangs.
        kubectl.run(*rollout_status_args(spec), timeout=spec.wait_timeout + 30)

    def _fail(self, kubectl: Kubectl, spec: DeploySpec, previous: DeploySpec | None, reason: str) -> None:
        """Read why the revision failed, undo it, raise RolloutFailedError with both."""
        tail = failure_report(kubectl, spec)
        outcome = self._recover(kubectl, spec, previous)
        raise RolloutFailedError(
            f"revision {spec.revision} of {spec.name} did not become ready: {reason}; {outcome}",
            hint="the lines above are the failing pods' state, events and last log lines",
            log_tail=tail,
        )

    def _recover(self, kubectl: Kubectl, spec: DeploySpec, previous: DeploySpec | None) -> str:
        """Put the previous revision back (or remove a first one); returns what happened."""
        if previous is None:
            self.delete(spec)
            return "its objects were deleted (there was no previous revision)"
        undo, apply, prune, wait = recovery_args(spec, previous)
        try:
            kubectl.run(*undo)
            # Service, HPA and PDB as the previous revision had them (no Secret: its value is the
            # one the old pods already read), and the new revision's extra HPA/PDB removed.
            settings = self._settings(previous, "unused")
            aux = [doc for doc in k8s.manifests(previous, settings) if doc["kind"] != "Deployment"]
            kubectl.run(*apply, input=k8s.to_yaml(aux))
            kubectl.run(*prune)
            kubectl.run(*wait, timeout=spec.wait_timeout + 30)
        except KubectlError as exc:
            history = f"kubectl rollout history deployment/{spec.name}"
            return f"undoing it failed too ({exc.message}): check `{history}`"
        return f"rolled back to revision {previous.revision}, which keeps serving"
