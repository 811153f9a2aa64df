"""A session and its schema together: a table in, named output columns out.

This is what serving, batch scoring and profiling hold per model. It needs only the model's
files and signature, never the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MlopsError
from mlops_cli.runtime.graph import class_labels_from_graph
from mlops_cli.runtime.mapping import (
    NUMPY_TYPES,
    Converted,
    ModelSchema,
    convert,
    from_outputs,
    schema_from_session,
    schema_from_signature,
    to_feeds,
)
from mlops_cli.runtime.session import SessionConfig, get_session

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Predictor:
    session: Any  # onnxruntime.InferenceSession
    schema: ModelSchema

    @classmethod
    def from_path(
        cls,
        path: Path,
        *,
        signature: Mapping[str, Any] | None = None,
        features: Sequence[str] | None = None,
        class_labels: Sequence[Any] | None = None,
        config: SessionConfig | None = None,
        digest: str | None = None,
    ) -> Predictor:
        """Load (or reuse this process's) session for the ONNX file and work out its schema.

        Class labels come from `class_labels`, else the signature, else the graph's classifier
        node, else the probability columns are numbered.
        """
        session = get_session(Path(path), config, digest)
        if signature and signature.get("inputs"):
            schema = schema_from_signature(signature, features, class_labels)
        else:
            schema = schema_from_session(session, features, class_labels)
        if schema.proba_output is not None and schema.class_labels is None:
            labels = class_labels_from_graph(Path(path))
            if labels is not None:
                schema = replace(schema, class_labels=tuple(labels))
        return cls(session, schema)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ready feeds; returns the output columns (see `from_outputs`)."""
        if not feeds or len(next(iter(feeds.values()))) == 0:
            return self._empty_outputs()
        try:
            raw = self.session.run(None, dict(feeds))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            text = str(exc).strip().splitlines()
            raise MlopsError(f"the model failed to run: {text[0] if text else type(exc).__name__}") from exc
        names = [o.name for o in self.session.get_outputs()]
        return from_outputs(self.schema, dict(zip(names, raw, strict=True)))

    def predict(self, table: Any, *, row_offset: int = 0, where: str = "") -> dict[str, np.ndarray]:
        """Score every row of a RecordBatch/Table/column mapping; InputError on the first bad value."""
        return self.run(to_feeds(self.schema, table, row_offset=row_offset, where=where))

    def convert(self, table: Any, where: str = "") -> Converted:
        """Feeds plus the rows that cannot be scored, for callers that skip bad rows."""
        return convert(self.schema, table, where)

    def close(self) -> None:
        """Nothing to release (sessions are cached per process); batch scorers all have one."""

    def _empty_outputs(self) -> dict[str, np.ndarray]:
        import numpy as np

        names = [o.name for o in self.schema.outputs]
        empty = {}
        for spec in self.schema.outputs:
            dtype = NUMPY_TYPES.get(spec.dtype or "float", "float32")
            width = spec.width if spec.width is not None else len(self.schema.class_labels or ()) or 1
            shape = (0,) if spec.rank == 1 else (0, width)
            empty[spec.name] = np.empty(shape, dtype=dtype)
        return from_outputs(self.schema, {n: empty[n] for n in names})
