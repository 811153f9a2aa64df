"""Does an execution provider run any of a model's nodes here? One profiled call tells.

onnxruntime accepts a provider it lists as available even when it can run nothing of the
model (AzureExecutionProvider only calls remote endpoints; a GPU provider can lack a kernel
for every operator): every node then falls back to the CPU, and measuring it would only
measure the CPU again. The per-node records of onnxruntime's own profiler name the provider
that ran each node.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_cli.errors import MlopsError
from mlops_cli.runtime.session import SessionConfig, create_session


def providers_running_nodes(path: Path, provider: str, feeds: Mapping[str, Any]) -> set[str]:
    """The providers that ran the model's nodes in one call with `provider` first.

    Raises MlopsError when no session can be created with it (the provider's libraries are
    missing, say) or the call fails.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-probe-") as folder:
        config = SessionConfig(intra_op_threads=1, providers=(provider,))
        session = create_session(path, config, profile_prefix=str(Path(folder) / "probe"))
        try:
            session.run(None, dict(feeds))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            lines = str(exc).strip().splitlines()
            raise MlopsError(
                f"the model failed to run on {provider}: {lines[0] if lines else exc!r}"
            ) from exc
        records = json.loads(Path(session.end_profiling()).read_text())
    return {
        record["args"]["provider"]
        for record in records
        if record.get("cat") == "Node" and "provider" in (record.get("args") or {})
    }


def unusable_reason(path: Path, provider: str, feeds: Mapping[str, Any]) -> str | None:
    """Why `provider` cannot be measured on this model here, or None when it runs some node."""
    try:
        ran = providers_running_nodes(path, provider, feeds)
    except MlopsError as exc:
        return exc.message
    if provider in ran:
        return None
    others = ", ".join(sorted(ran)) or "no provider"
    return f"runs none of this model's nodes here (all of them ran on {others})"
