"""What `mlops audit deliveries` and `mlops audit deliver` do."""

from __future__ import annotations

from mlops_cli.domain import Delivery
from mlops_cli.errors import UsageError
from mlops_cli.events.delivery import DeliveryRun, deliver
from mlops_cli.store import Store, outbox


def list_deliveries(
    store: Store, *, failed: bool = False, status: str | None = None, limit: int | None = None
) -> list[Delivery]:
    """Deliveries newest first; `failed` is the same as status `failed`."""
    if failed:
        status = "failed"
    if status is not None and status not in outbox.STATUSES:
        raise UsageError(f"unknown status {status!r}", hint=f"use one of {', '.join(outbox.STATUSES)}")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    return outbox.list_deliveries(store.conn, status=status, limit=limit)


def deliver_now(store: Store, *, failed: bool = False, ids: list[int] | None = None) -> DeliveryRun:
    """Send the pending deliveries in the foreground (with `failed`, retry the failed ones too;
    with `ids`, replay exactly those, even if delivered). Returns what happened."""
    if ids:
        known = {d.id for d in outbox.list_by_ids(store.conn, ids)}
        missing = [i for i in ids if i not in known]
        if missing:
            raise UsageError(f"no delivery {missing[0]}", hint="see `mlops audit deliveries`")
    return deliver(store, include_failed=failed, ids=ids)
