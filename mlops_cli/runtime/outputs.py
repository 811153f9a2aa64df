"""Outputs out: a model's outputs as named columns (prediction, proba_<class>, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops_cli.runtime.schema import PREDICTION, ModelSchema

if TYPE_CHECKING:
    import numpy as np


def from_outputs(schema: ModelSchema, outputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, np.ndarray]:
    """Model outputs as named columns, in a stable order.

    A classifier gives `prediction` (its label) and one `proba_<class>` per class; a model with
    one output gives `prediction` (`prediction_<j>` per column of a 2-D output); other models
    give one column per output, named after it.
    """

    if not isinstance(outputs, Mapping):
        outputs = {spec.name: value for spec, value in zip(schema.outputs, outputs, strict=False)}
    columns: dict[str, np.ndarray] = {}
    label, proba = schema.label_output, schema.proba_output
    if label is not None or proba is not None:
        if label is not None:
            columns[PREDICTION] = _flat(outputs[label])
        if proba is not None:
            columns.update(_proba_columns(outputs[proba], schema.class_labels))
        return columns
    if len(outputs) == 1:
        ((_, value),) = outputs.items()
        columns.update(_named(PREDICTION, value))
        return columns
    for name, value in outputs.items():
        columns.update(_named(name, value))
    return columns


def _flat(value: Any) -> np.ndarray:
    import numpy as np

    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    return array


def _named(name: str, value: Any) -> dict[str, np.ndarray]:

    array = _flat(value)
    if array.ndim == 1:
        return {name: array}
    array = array.reshape(array.shape[0], -1)
    return {f"{name}_{j}": array[:, j] for j in range(array.shape[1])}


def _proba_columns(value: Any, class_labels: tuple[Any, ...] | None) -> dict[str, np.ndarray]:
    import numpy as np

    if isinstance(value, list):  # ZipMap: a list of {class: probability} per row
        keys = list(value[0].keys()) if value else list(class_labels or [])
        return {f"proba_{k}": np.array([row[k] for row in value], dtype=np.float32) for k in keys}
    array = np.asarray(value)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    labels = list(class_labels) if class_labels is not None and len(class_labels) == array.shape[1] else None
    labels = labels or list(range(array.shape[1]))
    return {f"proba_{label}": array[:, j] for j, label in enumerate(labels)}


def output_columns(schema: ModelSchema) -> list[str] | None:
    """The output column names, when they are known without running the model."""
    label, proba = schema.label_output, schema.proba_output
    specs = {o.name: o for o in schema.outputs}
    if label is not None or proba is not None:
        names = [PREDICTION] if label is not None else []
        if proba is not None:
            width = specs[proba].width
            if schema.class_labels is not None and (width is None or width == len(schema.class_labels)):
                names += [f"proba_{c}" for c in schema.class_labels]
            elif width is not None:
                names += [f"proba_{j}" for j in range(width)]
            else:
                return None
        return names
    names: list[str] = []
    for spec in schema.outputs:
        base = PREDICTION if len(schema.outputs) == 1 else spec.name
        if spec.rank in (None, 1) or spec.width == 1:
            names.append(base)
        elif spec.width is not None:
            names += [f"{base}_{j}" for j in range(spec.width)]
        else:
            return None
    return names
