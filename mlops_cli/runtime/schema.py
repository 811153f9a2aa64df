"""A model's `ModelSchema`: how table rows reach its inputs and what its outputs are.

It comes from the stored signature (or a live session) and says how rows reach the model:
either one 2-D tensor whose columns are named features (layout "tensor"), or one input per
column (layout "columns", where types may differ and strings are allowed); an entry script's
`run()` takes rows as they are read (layout "script").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MlopsError, UsageError
from mlops_cli.runtime.validation import NUMERIC_DTYPES, accepts_missing

if TYPE_CHECKING:
    pass

# ONNX element types (as stored in signatures, lower-case) to the kind of column they take.
COLUMN_KINDS = {
    "float": "float",
    "float16": "float",
    "double": "float",
    "int64": "int",
    "int32": "int",
    "int16": "int",
    "int8": "int",
    "uint64": "int",
    "uint32": "int",
    "uint16": "int",
    "uint8": "int",
    "bool": "bool",
    "string": "string",
}
NUMPY_TYPES = {**NUMERIC_DTYPES, "bool": "bool", "string": "object"}
LABEL_OUTPUTS = ("label", "output_label")
PROBA_OUTPUTS = ("probabilities", "output_probability")
PREDICTION = "prediction"


class InputError(MlopsError):
    """Rows that cannot reach the model: a missing column, a value of the wrong type, a NaN."""

    def __init__(
        self, message: str, hint: str | None = None, column: str | None = None, row: int | None = None
    ) -> None:
        super().__init__(message, hint)
        self.column = column
        self.row = row

    def __reduce__(self):  # raised in worker processes: keep the hint, column and row across
        return (type(self), (self.message, self.hint, self.column, self.row))


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, ONNX element type (`float`, `int64`, ...) and shape."""

    name: str
    dtype: str | None
    shape: tuple[Any, ...] | None
    kind: str = "tensor"  # or "sequence", "map" for non-tensor values (ZipMap outputs)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def width(self) -> int | None:
        """The fixed size of the second dimension of a 2-D tensor, if known."""
        if self.shape is not None and len(self.shape) == 2 and isinstance(self.shape[1], int):
            return self.shape[1]
        return None


@dataclass(frozen=True)
class ModelSchema:
    """How rows map to a model's inputs and its outputs to columns."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    features: tuple[str, ...] | None = None
    class_labels: tuple[Any, ...] | None = None
    layout: str = field(default="columns")  # columns, tensor, or script (rows handed to run())
    missing_ok: bool = False  # the signature says the model takes NaN for missing values

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns the model needs, in the order they are fed."""
        if self.layout in ("tensor", "script"):
            return self.features or ()
        return tuple(i.name for i in self.inputs)

    def column_dtypes(self) -> dict[str, str]:
        """The ONNX element type each needed column is cast to (none for an entry script's
        run(): it receives the values as read)."""
        if self.layout == "script":
            return {}
        if self.layout == "tensor":
            return dict.fromkeys(self.columns, self.inputs[0].dtype or "float")
        return {i.name: i.dtype or "float" for i in self.inputs}

    @property
    def label_output(self) -> str | None:
        return classifier_outputs(self.outputs)[0]

    @property
    def proba_output(self) -> str | None:
        return classifier_outputs(self.outputs)[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "columns": list(self.columns),
            "inputs": [{"name": i.name, "dtype": i.dtype, "shape": i.shape} for i in self.inputs],
            "outputs": [{"name": o.name, "dtype": o.dtype, "shape": o.shape} for o in self.outputs],
            "class_labels": list(self.class_labels) if self.class_labels is not None else None,
            "accepts_missing": self.missing_ok,
        }


def _spec(entry: Mapping[str, Any]) -> TensorSpec:
    shape = entry.get("shape")
    kind = entry.get("type") or "tensor"
    return TensorSpec(
        entry["name"], (entry.get("dtype") or None), tuple(shape) if shape is not None else None, kind
    )


def schema_from_signature(
    signature: Mapping[str, Any],
    features: Sequence[str] | None = None,
    class_labels: Sequence[Any] | None = None,
) -> ModelSchema:
    """The schema of a model from its stored signature.

    `features` (for example from `--features a,b,c`) overrides the recorded `feature_names`;
    `class_labels` overrides the recorded `class_labels`. Raises UsageError when the signature
    has no inputs or the features cannot fit the model's input.
    """
    inputs = tuple(_spec(i) for i in signature.get("inputs") or [])
    outputs = tuple(_spec(o) for o in signature.get("outputs") or [])
    if not inputs:
        raise UsageError("the model's signature lists no inputs", hint="re-register it as an ONNX file")
    names = list(features) if features else signature.get("feature_names")
    labels = class_labels if class_labels is not None else signature.get("class_labels")
    schema = build_schema(inputs, outputs, names, labels)
    return replace(schema, missing_ok=accepts_missing(signature))


def schema_from_session(
    session: Any, features: Sequence[str] | None = None, class_labels: Sequence[Any] | None = None
) -> ModelSchema:
    """The schema read from a live onnxruntime session (when no stored signature is at hand)."""

    def spec(arg: Any) -> TensorSpec:
        text = arg.type or ""
        if text.startswith("tensor(") and text.endswith(")"):
            return TensorSpec(arg.name, text[7:-1], tuple(arg.shape) if arg.shape is not None else None)
        return TensorSpec(arg.name, None, None, text.split("(", 1)[0] or "unknown")

    inputs = tuple(spec(i) for i in session.get_inputs())
    outputs = tuple(spec(o) for o in session.get_outputs())
    return build_schema(inputs, outputs, features, class_labels)


def build_schema(
    inputs: tuple[TensorSpec, ...],
    outputs: tuple[TensorSpec, ...],
    features: Sequence[str] | None,
    class_labels: Sequence[Any] | None,
) -> ModelSchema:
    """Decide the layout: one 2-D input with named features is a tensor, anything else columns."""
    for spec in inputs:
        if spec.kind != "tensor" or (spec.dtype or "float") not in COLUMN_KINDS:
            raise UsageError(
                f"model input {spec.name!r} has type {spec.dtype or spec.kind}, which tables cannot feed"
            )
    labels = tuple(class_labels) if class_labels is not None else None
    single = inputs[0] if len(inputs) == 1 else None
    tensor = single is not None and single.rank == 2 and (features or single.width != 1)
    if not tensor:
        if features:
            raise UsageError(
                "--features applies only to a model with one 2-D input",
                hint=f"this model takes one input per column: {', '.join(i.name for i in inputs)}",
            )
        return ModelSchema(inputs, outputs, None, labels, "columns")
    names = tuple(features) if features else None
    if names is not None:
        if len(set(names)) != len(names):
            raise UsageError(
                "feature names repeat: " + ", ".join(sorted({n for n in names if names.count(n) > 1}))
            )
        if single.width is not None and len(names) != single.width:
            raise UsageError(
                f"the model's input {single.name!r} takes {single.width} features, but {len(names)} names"
                " were given",
                hint="pass exactly one column name per feature, in training order",
            )
    return ModelSchema(inputs, outputs, names, labels, "tensor")


def classifier_outputs(outputs: tuple[TensorSpec, ...]) -> tuple[str | None, str | None]:
    """(label output, probability output) of a classifier, by skl2onnx's names or by shape."""
    names = {o.name: o for o in outputs}
    label = next((n for n in LABEL_OUTPUTS if n in names), None)
    proba = next((n for n in PROBA_OUTPUTS if n in names), None)
    if label is None and proba is None and len(outputs) == 2:
        first, second = outputs
        if (
            first.rank == 1
            and (second.rank == 2 or second.kind == "sequence")
            and first.dtype in ("int64", "string")
        ):
            return first.name, second.name
    if label is not None and proba is None and len(outputs) == 2:
        proba = next(o.name for o in outputs if o.name != label)
    return label, proba
