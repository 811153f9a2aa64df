"""Reading a version's stored profile back: what `deploy` takes its default CPU and memory from."""

from __future__ import annotations

from typing import Any

from mlops_cli.domain import Artifact, ModelRef
from mlops_cli.store import Store, jobs

KIND = "profile"


def newest_recommendation(artifacts: list[Artifact]) -> dict[str, Any] | None:
    """The `recommendation` of the newest profile among a version's artifacts, or None."""
    profiles = [a for a in artifacts if a.kind == KIND and isinstance(a.details.get("recommendation"), dict)]
    if not profiles:
        return None
    return max(profiles, key=lambda a: a.created_at).details["recommendation"]


def latest_recommendation(store: Store, ref: str) -> dict[str, Any] | None:
    """The newest profile's `recommendation` of the version `ref` names, or None without one.

    The object has `cpu` (cores), `memory` ("192Mi"), `memory_bytes`, `threads`, `workers`,
    `max_batch_size` and `confirmed` (true/false after `--in-container`, else null). Raises
    NotFoundError for an unknown reference.
    """
    from mlops_cli.models.manage import show_version

    version = show_version(store, ref)
    return newest_recommendation(jobs.list_artifacts(store.conn, ModelRef.parse(version.ref), KIND))
