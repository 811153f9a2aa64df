"""What deployments exist, their revisions, what serves now (asked of the target), and logs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.deploy.recording import recover_if_idle, spec_from_record
from mlops_cli.deploy.targets import load_target
from mlops_cli.domain import Deployment, Revision
from mlops_cli.errors import NotFoundError, UsageError
from mlops_cli.store import Store
from mlops_cli.store import deployments as records


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
    models: list[str] = field(default_factory=list)  # every version served, `ref` first

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
        current.models,
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
