"""A deployment's folder, its lock, and turning a revision's outcome into records.

`pending.json` in the folder is the switch's journal: written (under the lock) before the target
starts anything, removed once the outcome is recorded. Finding it with the lock free means the
deployer was killed (kill -9, power loss) mid-switch; `recover` then asks the target whether
that revision holds the traffic and records the truth, so records always end up saying what
serves, and a revision that never took traffic is stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlops_cli.audit.provenance import provenance
from mlops_cli.domain import Deployment, Provenance, Revision
from mlops_cli.errors import BusyError
from mlops_cli.store import Store
from mlops_cli.store import deployments as records
from mlops_cli.store.events import utc_now
from mlops_cli.targets.base import DeploySpec, RevisionState, Target

JOURNAL = "pending.json"


def workdir(store: Store, name: str) -> Path:
    return store.paths.root / "deployments" / name


@contextlib.contextmanager
def locked(store: Store, name: str, wait: bool = False) -> Iterator[Path]:
    """One deploy, rollback or delete of NAME at a time (a lock file in its owner-only folder).

    BusyError (exit 6) when another process holds it, unless `wait`.
    """
    folder = workdir(store, name)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise BusyError(
                f"another deploy, rollback or delete of {name!r} is running",
                hint="wait for it to finish, then run this again",
            ) from None
        yield folder


def spec_to_record(spec: DeploySpec) -> dict[str, Any]:
    data = asdict(spec)
    for key in ("model_dir", "workdir"):
        data[key] = str(data[key]) if data[key] is not None else None
    return data


def spec_from_record(data: dict[str, Any]) -> DeploySpec:
    values = dict(data)
    for key in ("model_dir", "workdir"):
        values[key] = Path(values[key]) if values.get(key) else None
    return DeploySpec(**values)


def state_dict(state: RevisionState) -> dict[str, Any]:
    return {
        "running": state.running,
        "ready": state.ready,
        "detail": state.detail,
        "endpoint": state.endpoint,
        "info": state.info,
    }


def record(
    store: Store,
    target: str,
    spec: DeploySpec,
    kind: str,
    requested: str,
    outcome: str,
    detail: str | None,
    state: dict[str, Any],
    rollback_of: int | None,
    who: Provenance,
) -> Deployment:
    revision = Revision(
        deployment=spec.name,
        revision=spec.revision,
        kind=kind,
        model=spec.model,
        version=spec.version,
        digest=spec.digest,
        requested_ref=requested,
        outcome=outcome,
        detail=detail,
        spec=spec_to_record(spec),
        state=state,
        rollback_of=rollback_of,
        created_at=utc_now(),
        actor=who.actor,
        message=who.message,
    )
    action = f"deploy.{kind}" if outcome == records.LIVE else "deploy.failed"
    deployment = records.record_revision(store.conn, target, revision, action, who)
    clear_journal(spec.workdir)
    return deployment


def write_journal(
    folder: Path,
    target: str,
    spec: DeploySpec,
    kind: str,
    requested: str,
    rollback_of: int | None,
    message: str | None,
) -> None:
    data = {
        "target": target,
        "spec": spec_to_record(spec),
        "kind": kind,
        "requested": requested,
        "rollback_of": rollback_of,
        "message": message,
    }
    tmp = folder / f".{JOURNAL}.tmp"
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(folder / JOURNAL)


def clear_journal(folder: Path | None) -> None:
    if folder is not None:
        with contextlib.suppress(FileNotFoundError):
            (folder / JOURNAL).unlink()


def recover(store: Store, name: str, target: Target) -> int | None:
    """Record what a killed deployer left (call under the lock); the revision it recorded, if any.

    The journal's revision is live when it holds the traffic now, else it is stopped and
    recorded as failed. A journal whose revision is already recorded is only removed.
    """
    folder = workdir(store, name)
    try:
        pending = json.loads((folder / JOURNAL).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        clear_journal(folder)
        return None
    spec = spec_from_record(pending["spec"])
    if any(r.revision == spec.revision for r in records.list_revisions(store.conn, name)):
        clear_journal(folder)
        return None
    existing = records.find_deployment(store.conn, name)
    current = spec_from_record(existing.current.spec) if existing and existing.current else None
    who = provenance(pending.get("message"))
    if target.serves(spec):
        state = target.status(spec)
        outcome, detail = records.LIVE, "recorded after its deployer was killed: it took the traffic"
    else:
        target.discard(spec, current)
        state = RevisionState(False, False, "stopped: its deployer was killed before it took the traffic")
        outcome, detail = records.FAILED, "its deployer was killed before it took the traffic"
    record(
        store,
        target.name,
        spec,
        pending["kind"],
        pending["requested"],
        outcome,
        detail,
        state_dict(state),
        pending.get("rollback_of"),
        who,
    )
    if outcome == records.LIVE and current is not None:
        target.settle(spec, current, state)
    return spec.revision


def recover_if_idle(store: Store, name: str) -> None:
    """`recover` when no deploy of NAME runs now (a read such as `status` must not wait for one)."""
    from mlops_cli.deploy.targets import load_target

    folder = workdir(store, name)
    if not (folder / JOURNAL).exists():
        return
    try:
        with locked(store, name):
            target = json.loads((folder / JOURNAL).read_text())["target"]
            recover(store, name, load_target(target))
    except (BusyError, OSError, ValueError, KeyError):
        return
