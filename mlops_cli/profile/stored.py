"""Reading a version's stored profile back: what `deploy` takes its default CPU and memory from."""

from __future__ import annotations

from typing import Any

from mlops_cli.domain import ModelRef
from mlops_cli.store import Store, jobs

KIND = "profile"


def latest_recommendation(store: Store, ref: str) -> dict[str, Any] | None:
    """The newest profile's `recommendation` of the version `ref` names, or None without one.

    The object has `cpu` (cores), `memory` ("192Mi"), `memory_bytes`, `threads`, `workers`,
    `max_batch_size` and `confirmed` (true/false after `--in-container`, else null). Raises
    NotFoundError for an unknown reference.
    """
    from mlops_cli.models.manage import show_version

    version = show_version(store, ref)
    for artifact in reversed(jobs.list_artifacts(store.conn, ModelRef.parse(version.ref), KIND)):
        recommendation = artifact.details.get("recommendation")
        if isinstance(recommendation, dict):
            return recommendation
    return None
