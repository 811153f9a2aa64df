"""The served model: an onnxruntime session plus the rules that turn tables into its inputs.

v2 requests arrive as tensors and go straight to `run()`; MLflow-style requests arrive as a
table (column names and rows) and go through `feeds_from_table()` first; outputs go back to a
table through `rows_from_outputs()`.
"""

from __future__ import annotations

import logging

import numpy as np

from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.codec import TensorSpec, spec_from_ort
from mlops_cli.serving.errors import HTTPError

log = logging.getLogger("mlops.serving")


class ServedModel:
    """Load once at start-up; `run()` is safe to call from several threads (onnxruntime is)."""

    def __init__(self, bundle: Bundle, intra_op_threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(bundle.model_path), options, providers=["CPUExecutionProvider"]
        )
        self.bundle = bundle
        self.name = bundle.name
        self.version = str(bundle.version)
        self.inputs = [spec_from_ort(i) for i in self.session.get_inputs()]
        self.outputs = [spec_from_ort(o) for o in self.session.get_outputs()]
        self.input_specs = {s.name: s for s in self.inputs}
        self.output_names = [s.name for s in self.outputs]
        signature = bundle.signature or {}
        self.feature_names: list[str] | None = signature.get("feature_names")
        self.class_labels: list | None = signature.get("class_labels")
        self._invalid = _invalid_argument_error()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """All outputs for `feeds`; a 400 when onnxruntime rejects the input values."""
        try:
            values = self.session.run(None, feeds)
        except self._invalid as exc:
            raise HTTPError(400, f"the model rejected the input: {_short(exc)}") from None
        return dict(zip(self.output_names, values, strict=False))

    # --- tables (the MLflow-style endpoint and the collection files) --------------------------

    def feeds_from_table(self, columns: list[str] | None, rows: list[list]) -> dict[str, np.ndarray]:
        """Model inputs from rows of values, by column name when names are given."""
        if not rows:
            raise HTTPError(400, "no rows to score")
        if len(self.inputs) == 1:
            spec = self.inputs[0]
            if columns == [spec.name] and isinstance(rows[0][0], list):
                columns, rows = None, [r[0] for r in rows]  # {"inputs": {"X": [[...], ...]}}
            if columns is not None and self.feature_names:
                missing = [f for f in self.feature_names if f not in columns]
                if missing:
                    raise HTTPError(400, f"missing column(s): {', '.join(missing)}")
                index = [columns.index(f) for f in self.feature_names]
                rows = [[row[i] for i in index] for row in rows]
            width = spec.shape[1] if spec.shape and len(spec.shape) == 2 and spec.shape[1] >= 0 else None
            if width is not None and any(len(r) != width for r in rows):
                got = sorted({len(r) for r in rows})
                raise HTTPError(400, f"the model expects {width} values per row, got {got}")
            return {spec.name: _column_array(spec, rows, (len(rows), -1))}
        if columns is None:
            raise HTTPError(400, f"name the columns: the model has inputs {', '.join(self.input_specs)}")
        feeds = {}
        for spec in self.inputs:
            if spec.name not in columns:
                raise HTTPError(400, f"missing column {spec.name!r}")
            i = columns.index(spec.name)
            shape = (len(rows), 1) if spec.shape is None or len(spec.shape) == 2 else (len(rows),)
            feeds[spec.name] = _column_array(spec, [r[i] for r in rows], shape)
        return feeds

    def output_columns(self, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Output tensors as named columns: `prediction` and `proba_<class>` for classifiers."""
        columns: dict[str, np.ndarray] = {}
        for name, value in outputs.items():
            value = np.asarray(value)
            if value.ndim == 2 and value.shape[1] > 1 and name.startswith("prob"):
                labels = self.class_labels or list(range(value.shape[1]))
                for j in range(value.shape[1]):
                    columns[f"proba_{labels[j]}"] = value[:, j]
            elif value.ndim <= 1 or value.shape[1] == 1:
                key = "prediction" if "prediction" not in columns else name
                columns[key] = value.reshape(len(value)) if value.ndim else value.reshape(1)
            else:
                for j in range(value.shape[1]):
                    columns[f"{name}_{j}"] = value[:, j]
        return columns

    def input_columns(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {}
        for name, value in feeds.items():
            if value.ndim == 2 and value.shape[1] > 1:
                names = (
                    self.feature_names
                    if self.feature_names and len(self.feature_names) == value.shape[1]
                    else None
                )
                for j in range(value.shape[1]):
                    columns[names[j] if names else f"{name}_{j}"] = value[:, j]
            else:
                columns[name] = value.reshape(len(value)) if value.ndim else value.reshape(1)
        return columns

    def rows_from_outputs(self, outputs: dict[str, np.ndarray]) -> list:
        """MLflow's shape: a list of values for one column, else a list of records."""
        columns = self.output_columns(outputs)
        if list(columns) == ["prediction"]:
            return columns["prediction"].tolist()
        names = list(columns)
        values = [columns[n].tolist() for n in names]
        return [dict(zip(names, row, strict=False)) for row in zip(*values, strict=False)]

    def collect_columns(self, feeds: dict, outputs: dict) -> dict[str, np.ndarray]:
        return {**self.input_columns(feeds), **self.output_columns(outputs)}


def _column_array(spec: TensorSpec, values: list, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.array(values, dtype=spec.dtype).reshape(shape)
    except (ValueError, TypeError, OverflowError) as exc:
        raise HTTPError(400, f"input {spec.name!r}: values must be {spec.datatype} ({exc})") from None


def _invalid_argument_error() -> tuple[type[Exception], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(getattr(state, n) for n in ("InvalidArgument",) if hasattr(state, n))


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
