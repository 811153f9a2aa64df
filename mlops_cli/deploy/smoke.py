"""The smoke request a new revision must answer before it takes traffic, from the version itself.

Rows of its registered CSV dataset when the dataset holds the model's named features (sent to
`/invocations`), else rows synthesised from its stored signature (sent to `/v2/.../infer`);
the answer must have one prediction per row, or outputs of the signature's shape.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from mlops_cli.domain import ModelVersion
from mlops_cli.serving.gate import v2_specs
from mlops_cli.store import Store

ROWS = 2


def smoke_for(store: Store, versions: list[ModelVersion]) -> dict[str, Any]:
    """The gate's request: one version's own, or (several in one server) every version's, each
    sent to its own /v2/models/NAME/versions/N path."""
    if len(versions) == 1:
        return smoke_request(store, versions[0])
    each = [{"model": v.name, "version": v.version, **smoke_request(store, v)} for v in versions]
    return {
        "kind": "multi",
        "source": ", ".join(f"{v.ref}: {e['source']}" for v, e in zip(versions, each, strict=True)),
        "rows": sum(int(e.get("rows") or 0) for e in each),
        "models": each,
    }


def smoke_request(store: Store, version: ModelVersion) -> dict[str, Any]:
    if version.runs_own_model:
        return {"kind": "ready", "source": f"entry script {version.entry['script']}"}
    signature = version.signature or {}
    features = signature.get("feature_names")
    if features:
        for dataset in version.datasets:
            rows = _csv_rows(store, dataset.digest, features)
            if rows:
                return {
                    "kind": "invocations",
                    "source": f"dataset {dataset.path}",
                    "columns": list(features),
                    "data": rows,
                    "rows": len(rows),
                }
    return {
        "kind": "infer",
        "source": "signature" if signature.get("inputs") else "server metadata",
        "inputs": v2_specs(signature.get("inputs")),
        "outputs": v2_specs(signature.get("outputs")),
        "rows": ROWS,
    }


def _csv_rows(store: Store, digest: str, features: list[str]) -> list[list[Any]] | None:
    """The first rows of a CSV blob, holding `features` in that order; None when it cannot."""
    try:
        with open(store.objects.path_for(digest), "rb") as blob:
            text = blob.read(64 * 1024).decode("utf-8", errors="strict")
    except (OSError, UnicodeDecodeError):
        return None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        if not all(f in header for f in features):
            return None
        index = [header.index(f) for f in features]
        rows = []
        for row in reader:
            if len(row) != len(header):
                break
            rows.append([_value(row[i]) for i in index])
            if len(rows) == ROWS:
                break
    except csv.Error:
        return None
    return rows or None


def _value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text
