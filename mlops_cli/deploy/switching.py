"""Create or switch a deployment, or roll it back: every one a new, gated, recorded revision.

Every switch (create, switch, rollback) makes a new numbered revision: the target starts it,
gates it (ready + smoke inference) and only then moves traffic to it. The outcome is recorded
with an audit event either way (`deploy.create|switch|rollback`, or `deploy.failed`).
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.deploy import settings
from mlops_cli.deploy.artifacts import with_artifact
from mlops_cli.deploy.recording import (
    clear_journal,
    locked,
    record,
    recover,
    spec_from_record,
    state_dict,
    workdir,
    write_journal,
)
from mlops_cli.deploy.requests import DeployRequest, DeployResult
from mlops_cli.deploy.smoke import smoke_for
from mlops_cli.deploy.targets import load_target
from mlops_cli.domain import ModelVersion
from mlops_cli.errors import MlopsError, NotFoundError, Terminated, UsageError
from mlops_cli.store import Store
from mlops_cli.store import deployments as records
from mlops_cli.targets import interrupts
from mlops_cli.targets.base import DeploySpec, Target


def deploy(
    store: Store, request: DeployRequest, *, dry_run: bool = False, message: str | None = None
) -> DeployResult:
    """Create NAME, or switch it to REF when it exists; returns what was done. With
    `more_refs`, the revision serves every version in one server and the gate smokes each.

    Raises UsageError for bad settings, a NAME used by another target or versions that cannot
    share a server (environments/together.py), NotFoundError for an
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
    versions = _servable_set(store, [request.ref, *request.more_refs])
    if len(versions) > 1 and request.collect:
        raise UsageError("--collect serves one model; deploy one model per deployment to collect")
    version = versions[0]
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
        versions,
        " ".join([request.ref, *request.more_refs]),
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
    versions = _servable_set(store, chosen.models)
    ran = [chosen.digest, *(o["digest"] for o in chosen.spec.get("others") or [])]
    for version, digest in zip(versions, ran, strict=True):
        if version.digest != digest:
            raise UsageError(
                f"{version.ref} is no longer the version revision {chosen.revision} ran (digest differs)"
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
        versions,
        " ".join(chosen.models),
        base,
        resources,
        "rollback",
        chosen.revision,
        False,
        message,
    )


def _servable_set(store: Store, refs: list[str]) -> list[ModelVersion]:
    """The versions one revision serves, each servable, together in one server (UsageError)."""
    from mlops_cli.environments.together import check_together
    from mlops_cli.models.manage import show_version
    from mlops_cli.runtime.loader import check_servable

    versions = [show_version(store, ref) for ref in refs]
    for version in versions:
        check_servable(version)
    check_together(versions)
    return versions


def _run(
    store: Store,
    target: Target,
    name: str,
    versions: list[ModelVersion],
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
        version = versions[0]
        options = {**base["options"], "smoke": smoke_for(store, versions)}
        spec = DeploySpec(
            name=name,
            revision=revision,
            model=version.name,
            version=version.version,
            digest=version.digest,
            workdir=folder,
            others=[{"model": v.name, "version": v.version, "digest": v.digest} for v in versions[1:]],
            **{**base, "options": options},
        )
        spec = with_artifact(store, target.name, spec, versions, dry_run)
        common = {
            "deployment": name,
            "target": target.name,
            "revision": revision,
            "ref": version.ref,
            "digest": version.digest,
            "resources": resources,
            "smoke": {k: options["smoke"].get(k) for k in ("kind", "source", "rows")},
            "previous_revision": current.revision if current else None,
            "models": [v.ref for v in versions],
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


def _failure(exc: BaseException) -> str:
    if isinstance(exc, MlopsError):
        return exc.message
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
