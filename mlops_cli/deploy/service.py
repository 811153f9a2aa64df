"""`mlops deploy`: create or switch a deployment, roll it back, report and remove it.

Every switch (create, switch, rollback) makes a new numbered revision: the target starts it,
gates it (ready + smoke inference) and only then moves traffic to it. The outcome is recorded
with an audit event either way (`deploy.create|switch|rollback`, or `deploy.failed`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.deploy import settings
from mlops_cli.deploy.recording import (
    clear_journal,
    locked,
    record,
    recover,
    recover_if_idle,
    spec_from_record,
    spec_to_record,
    state_dict,
    workdir,
    write_journal,
)
from mlops_cli.deploy.smoke import smoke_request
from mlops_cli.deploy.targets import load_target
from mlops_cli.domain import Deployment, ModelVersion, Revision
from mlops_cli.errors import MlopsError, NotFoundError, Terminated, UsageError
from mlops_cli.store import Store
from mlops_cli.store import deployments as records
from mlops_cli.targets import interrupts
from mlops_cli.targets.base import DeploySpec, Target

__all__ = ["spec_from_record", "spec_to_record", "workdir"]


@dataclass(frozen=True)
class DeployRequest:
    """What `mlops deploy REF --name NAME ...` asks for."""

    ref: str
    name: str
    target: str = "local"
    port: int | None = None  # None: the deployment's own (a switch), else 8080
    host: str | None = None  # None: the deployment's own (a switch), else 127.0.0.1
    replicas: int | None = None  # None: a confirmed profile's workers (local, docker), else 1
    cpu: float | None = None
    memory: str | None = None
    env: list[str] = field(default_factory=list)
    api_key_env: str | None = None
    collect: bool = False
    wait_timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployResult:
    """What a create, switch or rollback did (or, with --dry-run, would do)."""

    action: str  # create, switch, rollback, plan
    deployment: str
    target: str
    revision: int
    ref: str
    digest: str
    endpoint: str | None
    resources: dict[str, Any]
    smoke: dict[str, Any]
    previous_revision: int | None
    seconds: float | None = None
    state: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deploy(
    store: Store, request: DeployRequest, *, dry_run: bool = False, message: str | None = None
) -> DeployResult:
    """Create NAME, or switch it to REF when it exists; returns what was done.

    Raises UsageError for bad settings or a NAME used by another target, NotFoundError for an
    unknown REF, RevisionRefusedError (exit 5) when the new revision fails its gate, and
    ExternalToolError when the target's tool (docker) fails.
    """
    settings.validate_deployment_name(request.name)
    if request.replicas is not None and request.replicas < 1:
        raise UsageError("--replicas must be at least 1")
    if request.wait_timeout <= 0:
        raise UsageError("--wait-timeout must be positive")
    env = settings.parse_env(request.env)
    settings.check_api_key(request.api_key_env)
    target = load_target(request.target)
    version = _onnx_version(store, request.ref)
    existing = records.find_deployment(store.conn, request.name)
    if existing is not None and existing.target != request.target:
        raise UsageError(
            f"deployment {request.name!r} is a {existing.target} deployment, not {request.target}",
            hint=f"use --target {existing.target}, or another --name",
        )
    current = existing.current.spec if existing and existing.current else None
    providers = settings.check_providers(request.options.get("providers"), request.target)
    host, port, options = settings.same_place(
        request.name, request.host, request.port, {**request.options, "providers": providers}, current
    )
    settings.check_address(host, port)
    resources = settings.resources(version, request.cpu, request.memory)
    options, replicas = settings.with_profile_serving(resources, request.target, options, request.replicas)
    base = {
        "port": port,
        "host": host,
        "replicas": replicas,
        "cpu": resources.cpu,
        "memory": resources.memory,
        "env": env,
        "api_key_env": request.api_key_env,
        "collect": request.collect,
        "wait_timeout": request.wait_timeout,
        "options": options,
    }
    kind = "create" if existing is None or existing.current is None else "switch"
    return _run(
        store,
        target,
        request.name,
        version,
        request.ref,
        base,
        resources.to_dict(),
        kind,
        None,
        dry_run,
        message,
    )


def rollback(
    store: Store,
    name: str,
    to: int | None = None,
    *,
    message: str | None = None,
    wait_timeout: float | None = None,
) -> DeployResult:
    """Switch NAME back to revision `to` (default: the one that served before the current one).

    The rollback is a new revision with the old one's version and settings, gated like any
    switch. Raises NotFoundError / UsageError when there is nothing to roll back to.
    """
    deployment = records.get_deployment(store.conn, name)
    revisions = records.list_revisions(store.conn, name)
    current = deployment.current_revision
    if to is None:
        earlier = [
            r for r in revisions if r.outcome == records.RETIRED and (current is None or r.revision < current)
        ]
        if not earlier:
            raise UsageError(
                f"{name} has no earlier revision that served", hint="see `mlops deploy history NAME`"
            )
        chosen = earlier[-1]
    else:
        chosen = next((r for r in revisions if r.revision == to), None)
        if chosen is None:
            raise NotFoundError(f"{name} has no revision {to}", hint="see `mlops deploy history NAME`")
        if chosen.outcome == records.FAILED:
            raise UsageError(f"revision {to} of {name} never served (it failed its gate)")
        if chosen.revision == current:
            raise UsageError(f"revision {to} is the one serving {name} now")
    version = _onnx_version(store, chosen.ref)
    if version.digest != chosen.digest:
        raise UsageError(
            f"{chosen.ref} is no longer the version revision {chosen.revision} ran (digest differs)"
        )
    spec = chosen.spec
    base = {
        k: spec[k]
        for k in (
            "port",
            "host",
            "replicas",
            "cpu",
            "memory",
            "env",
            "api_key_env",
            "collect",
            "wait_timeout",
        )
    }
    if wait_timeout is not None:
        base["wait_timeout"] = wait_timeout
    options = dict(spec.get("options") or {})
    options.pop("smoke", None)
    if spec.get("image"):
        options["image"] = spec["image"]  # the very image that revision ran
    base["options"] = options
    settings.check_api_key(base["api_key_env"])
    resources = {"cpu": base["cpu"], "memory": base["memory"], "source": f"revision {chosen.revision}"}
    return _run(
        store,
        load_target(deployment.target),
        name,
        version,
        chosen.ref,
        base,
        resources,
        "rollback",
        chosen.revision,
        False,
        message,
    )


def _onnx_version(store: Store, ref: str) -> ModelVersion:
    from mlops_cli.models.manage import show_version
    from mlops_cli.runtime.loader import check_servable

    version = show_version(store, ref)
    check_servable(version)
    return version


def _run(
    store: Store,
    target: Target,
    name: str,
    version: ModelVersion,
    requested: str,
    base: dict[str, Any],
    resources: dict[str, Any],
    kind: str,
    rollback_of: int | None,
    dry_run: bool,
    message: str | None,
) -> DeployResult:
    folder = workdir(store, name)
    lock = contextlib.nullcontext(folder) if dry_run else locked(store, name)
    with lock:
        if not dry_run:
            recover(store, name, target)  # what a killed deployer left is recorded first
        existing = records.find_deployment(store.conn, name)
        current = existing.current if existing else None
        previous = spec_from_record(current.spec) if current else None
        revision = records.next_revision(store.conn, name)
        options = {**base["options"], "smoke": smoke_request(store, version)}
        spec = DeploySpec(
            name=name,
            revision=revision,
            model=version.name,
            version=version.version,
            digest=version.digest,
            workdir=folder,
            **{**base, "options": options},
        )
        spec = _with_artifact(store, target.name, spec, version, dry_run)
        common = {
            "deployment": name,
            "target": target.name,
            "revision": revision,
            "ref": version.ref,
            "digest": version.digest,
            "resources": resources,
            "smoke": {k: options["smoke"].get(k) for k in ("kind", "source", "rows")},
            "previous_revision": current.revision if current else None,
        }
        if dry_run:
            plan = target.plan(spec, previous)
            return DeployResult(action="plan", endpoint=plan.get("endpoint"), plan=plan, **common)
        started = time.monotonic()
        write_journal(folder, target.name, spec, kind, requested, rollback_of, message)
        outcome = (store, target.name, spec, kind, requested)
        # Who and from which commit (git takes a tenth of a second) is found while the revision starts.
        with ThreadPoolExecutor(1) as pool:
            who = pool.submit(provenance, message)
            try:
                state = target.switch(spec, previous)
                interrupts.arm()  # it serves: an interrupt now waits until the records say so
            except UsageError:
                clear_journal(folder)
                raise  # settings the target cannot run: nothing started, nothing to record
            except (MlopsError, KeyboardInterrupt) as exc:
                interrupts.arm()
                record(*outcome, records.FAILED, _failure(exc), {}, rollback_of, who.result())
                raise
        record(*outcome, records.LIVE, None, state_dict(state), rollback_of, who.result())
        target.settle(spec, previous, state)
        return DeployResult(
            action=kind,
            endpoint=state.endpoint,
            seconds=round(time.monotonic() - started, 3),
            state=state_dict(state),
            **common,
        )


def _entry_python(store: Store, version: ModelVersion, dry_run: bool) -> dict[str, str]:
    """An entry script's environment (built now if needed): the local target runs its Python."""
    from mlops_cli.environments.venvs import environment_for
    from mlops_cli.targets.local import envs_dir

    if dry_run or version.entry is None:
        return {}
    environment = environment_for(envs_dir(store), version.entry)
    return {"python": str(environment.python)} if environment else {}


def _failure(exc: BaseException) -> str:
    if isinstance(exc, MlopsError):
        return exc.message
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"


def _with_artifact(
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


# --- reading and removing ---------------------------------------------------------------------


def list_deployments(store: Store) -> list[Deployment]:
    return records.list_deployments(store.conn)


def history(store: Store, name: str) -> list[Revision]:
    records.get_deployment(store.conn, name)
    return records.list_revisions(store.conn, name)


@dataclass(frozen=True)
class Status:
    """The record and the truth: what the target observes right now."""

    name: str
    target: str
    revision: int | None
    ref: str | None
    digest: str | None
    running: bool
    ready: bool
    detail: str
    endpoint: str | None
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(store: Store, name: str) -> Status:
    recover_if_idle(store, name)  # a deployer killed mid-switch: record what serves first
    deployment = records.get_deployment(store.conn, name)
    current = deployment.current
    if current is None:
        return Status(
            name, deployment.target, None, None, None, False, False, "no revision has served yet", None, {}
        )
    state = load_target(deployment.target).status(spec_from_record(current.spec))
    return Status(
        name,
        deployment.target,
        current.revision,
        current.ref,
        current.digest,
        state.running,
        state.ready,
        state.detail,
        state.endpoint,
        state.info,
    )


def logs(
    store: Store, name: str, follow: bool = False, tail: int | None = None, revision: int | None = None
) -> Iterator[str]:
    """The log of the current revision (or `revision`); follows it with `follow`."""
    deployment = records.get_deployment(store.conn, name)
    revisions = {r.revision: r for r in records.list_revisions(store.conn, name)}
    wanted = revision if revision is not None else deployment.current_revision
    if wanted is None and revisions:
        wanted = max(revisions)
    if wanted not in revisions:
        raise NotFoundError(f"{name} has no revision {wanted}")
    if tail is not None and tail < 0:
        raise UsageError("--tail must be 0 or more")
    return load_target(deployment.target).logs(spec_from_record(revisions[wanted].spec), follow, tail)


def delete(store: Store, name: str, *, purge: bool = False, message: str | None = None) -> Deployment:
    """Stop NAME's serving revision and remove its records (the audit event keeps them all).

    `collected/` (monitoring data) stays unless `purge`; logs and sockets go.
    """
    recover_if_idle(store, name)
    deployment = records.get_deployment(store.conn, name)
    with locked(store, name) as folder:
        target = load_target(deployment.target)
        recover(store, name, target)
        revisions = records.list_revisions(store.conn, name)
        latest = deployment.current or (revisions[-1] if revisions else None)
        if latest is not None:  # every revision's processes go, whatever the records say of them
            target.delete(spec_from_record(latest.spec))
        records.delete_deployment(store.conn, name, provenance(message), {"purged": purge})
        for part in ("run", "logs", "procs", "pid", "server.log"):
            path = folder / part
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
    if purge or not (folder / "collected").exists() or not any((folder / "collected").iterdir()):
        shutil.rmtree(folder, ignore_errors=True)
    return deployment


def check_not_deployed(store: Store, model: str, version: int) -> None:
    """UsageError when a live deployment serves MODEL:VERSION (so `models rm` refuses it)."""
    live = records.live_deployments_of(store.conn, model, version)
    if live:
        names = ", ".join(d.name for d in live)
        raise UsageError(
            f"{model}:{version} is serving in deployment(s) {names}",
            hint="switch or delete those deployments first (`mlops deploy delete NAME`)",
        )
