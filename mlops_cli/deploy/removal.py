"""Removing a deployment, and refusing to remove a version that one serves."""

from __future__ import annotations

import shutil

from mlops_cli.audit.provenance import provenance
from mlops_cli.deploy.recording import locked, recover, recover_if_idle, spec_from_record
from mlops_cli.deploy.targets import load_target
from mlops_cli.domain import Deployment
from mlops_cli.errors import UsageError
from mlops_cli.store import Store
from mlops_cli.store import deployments as records


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
