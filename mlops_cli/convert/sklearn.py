"""scikit-learn estimators, Pipelines and ColumnTransformers via skl2onnx.

Classifiers are converted without ZipMap, so probabilities come out as one float tensor (the
dict form is about ten times slower) and the class labels are kept in the signature. Inputs are
float32: onnxruntime rejects float64 into tree ensembles. A model fitted on a DataFrame with
text columns gets one ONNX input per column, named like the column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import Adapter, InputSpec, Options, require, version_of
from mlops_cli.convert.rows import Rows
from mlops_cli.errors import ExternalToolError, MlopsError

_CLASS_IN_MESSAGE = re.compile(r"<class '([\w.]+)'>")


def is_estimator(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "sklearn" and hasattr(obj, "get_params")


class SklearnAdapter(Adapter):
    framework = "sklearn"
    converter = "skl2onnx"

    def __init__(self, model: Any) -> None:
        require("skl2onnx", "sklearn")
        from sklearn.base import is_classifier

        self.model = model
        # Classifiers without probabilities (LinearSVC) still give labels to compare.
        self.classifier = is_classifier(model)
        self.probabilities = self.classifier and hasattr(model, "predict_proba")
        if self.classifier:
            self.label_outputs = frozenset({"label"})
        self.method = "predict" if hasattr(model, "predict") else "transform"
        names = getattr(model, "feature_names_in_", None)
        self.fitted_names = [str(n) for n in names] if names is not None else None

    @property
    def max_opset(self) -> int:  # type: ignore[override]
        from skl2onnx import get_latest_tested_opset_version

        return get_latest_tested_opset_version()

    def spec(self) -> InputSpec:
        return InputSpec(
            kind="table",
            feature_names=self.fitted_names,
            n_features=getattr(self.model, "n_features_in_", None),
            string_columns=_known_text_columns(self.model),
        )

    def _per_column(self, rows: Rows) -> bool:
        """One ONNX input per column when columns are selected by name or some hold text."""
        if self.fitted_names is None or rows.columns is None:
            return False
        return any(rows.is_string(n) for n in rows.columns) or _contains(self.model, "ColumnTransformer")

    def _initial_types(self, rows: Rows) -> list[tuple[str, Any]]:
        from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

        if not self._per_column(rows):
            return [("input", FloatTensorType([None, rows.matrix().shape[1]]))]
        types = []
        for name, values in rows.columns.items():
            if rows.is_string(name):
                types.append((name, StringTensorType([None, 1])))
            elif values.dtype.kind in "iu":
                types.append((name, Int64TensorType([None, 1])))
            else:
                types.append((name, FloatTensorType([None, 1])))
        return types

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        from skl2onnx import to_onnx

        target_opset: int | dict[str, int] = options.opset
        if _contains_module(self.model, ("lightgbm", "xgboost")):
            from mlops_cli.convert.boosting import register_with_skl2onnx

            register_with_skl2onnx()
            # onnxmltools' tree converters inside a skl2onnx graph need the ML domain pinned.
            target_opset = {"": min(options.opset, 17), "ai.onnx.ml": 3}
        convert_options = {id(_final(self.model)): {"zipmap": False}} if self.probabilities else None
        try:
            onx = to_onnx(
                self.model,
                initial_types=self._initial_types(rows),
                target_opset=target_opset,
                options=convert_options,
            )
        except RuntimeError as exc:
            _unsupported(exc)
            raise ExternalToolError(f"skl2onnx could not convert the model: {exc}") from exc
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ExternalToolError(f"skl2onnx could not convert the model: {exc}") from exc
        output.write_bytes(onx.SerializeToString())

    def _frame(self, rows: Rows) -> Any:
        if self.fitted_names is None:
            return rows.matrix()
        pandas = require("pandas", "sklearn")
        return pandas.DataFrame(
            {n: (v if rows.is_string(n) else v.astype("float64")) for n, v in rows.columns.items()}
            if rows.columns is not None
            else dict(zip(self.fitted_names, rows.matrix().T, strict=True))
        )

    def native(self, rows: Rows) -> dict[str, Any]:
        X = self._frame(rows)  # noqa: N806 - the usual name
        if self.probabilities:
            return {"label": self.model.predict(X), "probabilities": self.model.predict_proba(X)}
        if self.classifier:
            return {"label": self.model.predict(X)}
        if self.method == "predict":
            return {"prediction": self.model.predict(X)}
        return {"transformed": _dense(self.model.transform(X))}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        if self.classifier:
            return ["label", "probabilities" if self.probabilities else "scores"][: len(onnx_outputs)]
        return ["prediction" if self.method == "predict" else "transformed"]

    def feed(self, rows: Rows, input_names: list[str]) -> dict[str, Any]:
        import numpy as np

        if not self._per_column(rows):
            return {input_names[0]: rows.matrix().astype(np.float32)}
        feed = {}
        for name, values in rows.columns.items():
            if rows.is_string(name):
                feed[name] = values.astype(str).astype(object).reshape(-1, 1)
            elif values.dtype.kind in "iu":
                feed[name] = values.astype(np.int64).reshape(-1, 1)
            else:
                feed[name] = values.astype(np.float32).reshape(-1, 1)
        return feed

    def feature_names(self, rows: Rows) -> list[str] | None:
        return self.fitted_names or rows.names

    def class_labels(self) -> list[Any] | None:
        classes = getattr(_final(self.model), "classes_", None) if self.classifier else None
        return [c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None

    def versions(self) -> dict[str, str | None]:
        return {"scikit-learn": version_of("scikit-learn"), "skl2onnx": version_of("skl2onnx")}


def _dense(values: Any) -> Any:
    return values.toarray() if hasattr(values, "toarray") else values


def _final(model: Any) -> Any:
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _walk(model: Any):
    yield model
    for attr in ("steps", "transformers_", "transformer_list"):
        for item in getattr(model, attr, None) or []:
            child = item[1]
            if hasattr(child, "get_params"):
                yield from _walk(child)


def _contains(model: Any, class_name: str) -> bool:
    return any(type(m).__name__ == class_name for m in _walk(model))


def _contains_module(model: Any, roots: tuple[str, ...]) -> bool:
    return any(type(m).__module__.split(".")[0] in roots for m in _walk(model))


def _known_text_columns(model: Any) -> dict[str, list[str]]:
    """Text columns a ColumnTransformer encodes, with the categories it learnt (for synthesis)."""
    found: dict[str, list[str]] = {}
    for node in _walk(model):
        for _, transformer, columns in getattr(node, "transformers_", None) or []:
            if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
                continue
            for step in _walk(transformer):
                categories = getattr(step, "categories_", None)
                if categories is None:
                    continue
                for column, values in zip(columns, categories, strict=False):
                    if values.dtype.kind in "OUS":
                        found[column] = [str(v) for v in values if v == v]
    return found


def _unsupported(exc: RuntimeError) -> None:
    """Raise an error naming an estimator skl2onnx has no converter for, with alternatives."""
    match = _CLASS_IN_MESSAGE.search(str(exc))
    if not match or "Unable to find" not in str(exc):
        return
    path = match.group(1)
    name = path.rsplit(".", 1)[-1]
    from skl2onnx._supported_operators import sklearn_operator_name_map

    supported = sorted({cls.__name__ for cls in sklearn_operator_name_map})
    kind = _kind_of(path)
    suffixes = {"classifier": ("Classifier",), "regressor": ("Regressor", "Regression")}.get(kind)
    if suffixes:
        same = [s for s in supported if s.endswith(suffixes)]
    else:
        same = [s for s in supported if not s.endswith(("Classifier", "Regressor", "Regression"))]
    raise MlopsError(
        f"skl2onnx cannot convert {name}: it has no converter for it",
        hint=f"supported alternatives include {', '.join(same[:10])} ({len(supported)} estimators in all)",
    ) from exc


def _kind_of(path: str) -> str:
    """classifier, regressor or transformer, for an estimator class named by its dotted path."""
    import importlib

    from sklearn.base import is_classifier, is_regressor

    module, _, name = path.rpartition(".")
    try:
        instance = getattr(importlib.import_module(module), name)()
    except Exception:  # noqa: BLE001 - a class that needs arguments: fall back to its name
        return "classifier" if name.endswith("Classifier") else "regressor" if "Regress" in name else "other"
    if is_classifier(instance):
        return "classifier"
    return "regressor" if is_regressor(instance) else "other"
