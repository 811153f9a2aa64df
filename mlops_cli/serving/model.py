"""The served model: a runtime session and schema, plus the JSON-rows path of /invocations.

Sessions, the model's schema (which input, which feature order, which element types) and the
naming of output columns (`prediction`, `proba_<class>`) all come from `mlops_cli.runtime`, as
in batch scoring. Only the last step of /invocations is done here: JSON rows are already typed
Python values, so they go to numpy directly instead of through the runtime's Arrow converter,
which exists for text tables and would put pyarrow (+170 MB) in every image and ~20 us per
column on every request.
"""

from __future__ import annotations

import logging

import numpy as np

from mlops_cli.errors import UsageError
from mlops_cli.runtime.mapping import (
    _KINDS,
    ModelSchema,
    from_outputs,
    schema_from_session,
    schema_from_signature,
)
from mlops_cli.runtime.providers import CPU
from mlops_cli.runtime.session import SessionConfig, get_session
from mlops_cli.runtime.validation import ValueRuleError, accepts_missing, from_json
from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.codec import spec_from_ort
from mlops_cli.serving.errors import HTTPError

log = logging.getLogger("mlops.serving")


class ServedModel:
    """Loaded once at start-up; `run()` may be called from several threads (onnxruntime is safe)."""

    def __init__(
        self, bundle: Bundle, intra_op_threads: int = 1, providers: tuple[str, ...] | None = None
    ) -> None:
        config = SessionConfig(
            intra_op_threads=intra_op_threads, inter_op_threads=1, providers=tuple(providers or (CPU,))
        )
        self.session = get_session(bundle.model_path, config, bundle.digest)
        self.bundle = bundle
        self.name = bundle.name
        self.version = str(bundle.version)
        self.inputs = [spec_from_ort(i) for i in self.session.get_inputs()]
        self.outputs = [spec_from_ort(o) for o in self.session.get_outputs()]
        self.input_specs = {s.name: s for s in self.inputs}
        self.output_names = [s.name for s in self.outputs]
        self.schema = _schema(self.session, bundle.signature or {})
        self.missing_ok = accepts_missing(bundle.signature)
        self._invalid = _invalid_argument_error()
        # The binding's own run: the public wrapper re-lists the outputs and re-checks the
        # feeds' names on every call (a few microseconds), which the request decoder already did.
        binding = getattr(self.session, "_sess", None)
        self._run = binding.run if hasattr(binding, "run") else None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output tensor by name; a 400 when onnxruntime rejects the values."""
        try:
            if self._run is not None:
                values = self._run(self.output_names, feeds, None)
            else:
                values = self.session.run(None, feeds)
        except self._invalid as exc:
            raise HTTPError(400, f"the model rejected the input: {_first_line(exc)}") from None
        return dict(zip(self.output_names, values, strict=True))

    # --- tables: /invocations and the collection files ----------------------------------------

    def feeds_from_table(self, columns: list[str] | None, rows: list[list]) -> dict[str, np.ndarray]:
        """The model's feeds from JSON rows, by column name when names are given (a 400 if not)."""
        schema = self._table_schema()
        if not rows:
            raise HTTPError(400, "no rows to score")
        if schema.layout == "tensor":
            spec = schema.inputs[0]
            if columns == [spec.name] and isinstance(rows[0][0], list):
                columns, rows = None, [r[0] for r in rows]  # {"inputs": {"X": [[...], ...]}}
            if columns is not None and schema.features:
                rows = _reorder(rows, columns, list(schema.features))
            width = spec.width
            if width is not None and any(not isinstance(r, list) or len(r) != width for r in rows):
                raise HTTPError(400, f"the model takes {width} values per row")
            return {spec.name: self._array(rows, spec.dtype, spec.name, schema.features)}
        if columns is None:
            if len(schema.inputs) == 1:
                columns = [schema.inputs[0].name]
                rows = [r if len(r) == 1 else [r] for r in rows]
            else:
                raise HTTPError(400, f"name the columns; the model's inputs are {', '.join(schema.columns)}")
        feeds = {}
        for spec in schema.inputs:
            if spec.name not in columns:
                raise HTTPError(400, f"missing column {spec.name!r} (the request has {', '.join(columns)})")
            index = columns.index(spec.name)
            values = self._array([r[index] for r in rows], spec.dtype, spec.name, None)
            if values.size != len(rows):
                raise HTTPError(400, f"column {spec.name!r}: every row must hold one value")
            feeds[spec.name] = values.reshape(len(rows), 1) if spec.rank == 2 else values.reshape(len(rows))
        return feeds

    def feeds_from_text(self, columns: list[str], rows: list[list[str]]) -> dict[str, np.ndarray]:
        """The feeds from CSV text: each column the model reads is parsed as its input's type
        (an empty cell is a missing value), then the one value rule applies as for JSON."""
        schema = self._table_schema()
        if schema.layout == "tensor" and not schema.features:
            # No feature names: the columns are the tensor's, in order, whatever the header says
            # (a leading unnamed column is the index pandas' to_csv() writes, as MLflow sends it).
            spec = schema.inputs[0]
            if columns and not columns[0] and spec.width is not None and len(columns) == spec.width + 1:
                columns, rows = columns[1:], [row[1:] for row in rows]
            parsers = [_TEXT_PARSERS.get(_KINDS.get(spec.dtype or "float", "string"))] * len(columns)
        else:
            kinds = {name: _KINDS.get(dtype, "string") for name, dtype in schema.column_dtypes().items()}
            parsers = [_TEXT_PARSERS.get(kinds.get(name, "string")) for name in columns]
        typed = []
        for number, row in enumerate(rows, start=1):
            values = list(row)
            for j, parse in enumerate(parsers):
                if parse is not None:
                    try:
                        values[j] = parse(values[j])
                    except ValueError:
                        wanted = "true or false" if parse is _boolean else "a number"
                        raise HTTPError(
                            400, f"column {columns[j]!r}, row {number}: {values[j]!r} is not {wanted}"
                        ) from None
            typed.append(values)
        return self.feeds_from_table(columns, typed)

    def output_columns(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return from_outputs(self._table_schema(), outputs)

    def rows_from_outputs(self, outputs: dict[str, np.ndarray]) -> list:
        """MLflow's shape: a list of values for a single `prediction`, else a list of records."""
        columns = self.output_columns(outputs)
        if list(columns) == ["prediction"]:
            return np.asarray(columns["prediction"]).tolist()
        names = list(columns)
        values = [np.asarray(columns[n]).tolist() for n in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]

    def collect_columns(self, feeds: dict, outputs: dict) -> dict[str, np.ndarray]:
        """One column per feature (named when known) and per output column, for collection."""
        columns: dict[str, np.ndarray] = {}
        features = self.schema.features if self.schema is not None else None
        for name, value in feeds.items():
            if value.ndim == 2 and value.shape[1] > 1:
                names = features if features and len(features) == value.shape[1] else None
                for j in range(value.shape[1]):
                    columns[names[j] if names else f"{name}_{j}"] = value[:, j]
            elif value.ndim == 2 and value.shape[1] == 1:
                columns[name] = value[:, 0]
            elif value.ndim == 1:
                columns[name] = value
            else:
                columns[name] = [row.ravel().tolist() for row in value]
        if self.schema is not None:
            columns.update(self.output_columns(outputs))
        else:
            columns.update({n: np.asarray(v) for n, v in outputs.items()})
        return columns

    def _array(self, values: list, dtype: str | None, name: str, features) -> np.ndarray:
        """JSON values by the one value rule (`runtime.validation`), or a 400 naming row and column."""
        try:
            return from_json(values, dtype or "float", missing_ok=self.missing_ok)
        except ValueRuleError as exc:
            row = f"row {exc.index[0] + 1}" if exc.index else "a row"
            column = ""
            if len(exc.index) > 1:
                column = f"column {features[exc.index[1]]!r}, " if features else f"value {exc.index[1] + 1}, "
            raise HTTPError(400, f"input {name!r}: {column}{row}: {exc.reason}") from None

    def _table_schema(self) -> ModelSchema:
        if self.schema is None:
            raise HTTPError(400, "this model's inputs cannot be fed from a table; use the v2 infer endpoint")
        return self.schema


def _schema(session, signature: dict) -> ModelSchema | None:
    """The runtime's schema, or None for a model that tables cannot feed (v2 still serves it)."""
    try:
        if signature.get("inputs"):
            return schema_from_signature(signature)
        return schema_from_session(session, None, signature.get("class_labels"))
    except UsageError as exc:
        log.info("tables cannot feed this model (%s); /invocations will refuse requests", exc)
        return None


def _reorder(rows: list[list], columns: list[str], features: list[str]) -> list[list]:
    missing = [f for f in features if f not in columns]
    if missing:
        raise HTTPError(400, f"missing column(s): {', '.join(missing)}")
    if columns == features:
        return rows
    index = [columns.index(f) for f in features]
    return [[row[i] for i in index] for row in rows]


def _number(text: str) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


_TEXT_PARSERS = {"float": _number, "int": _number, "bool": _boolean}


def _invalid_argument_error() -> tuple[type[Exception], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(getattr(state, n) for n in ("InvalidArgument",) if hasattr(state, n))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
