"""LightGBM and XGBoost models via onnxmltools (scikit-learn API estimators).

onnxmltools' tree converters are tested up to opset 15, so that is the cap here. Inside a
scikit-learn Pipeline the same converters are registered with skl2onnx (`sklearn.py` does that).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import Adapter, InputSpec, Options, require, version_of
from mlops_cli.convert.rows import Rows
from mlops_cli.errors import ExternalToolError, MlopsError

MAX_OPSET = 15
_SUPPORTED = ("LGBMClassifier", "LGBMRegressor", "XGBClassifier", "XGBRegressor")


def is_booster(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("lightgbm", "xgboost")


class BoostingAdapter(Adapter):
    converter = "onnxmltools"
    max_opset = MAX_OPSET
    accepts_missing = True  # NaN takes each tree's default branch, in the ONNX graph too

    def __init__(self, model: Any) -> None:
        self.library = type(model).__module__.split(".")[0]
        self.framework = self.library
        name = type(model).__name__
        if name not in _SUPPORTED:
            raise MlopsError(
                f"cannot convert a {self.library} {name}",
                hint=f"register a scikit-learn API model ({', '.join(_SUPPORTED)}) saved with joblib",
            )
        require(self.library, "boosting", "xgboost-cpu" if self.library == "xgboost" else None)
        require("onnxmltools", "boosting")
        self.model = model
        self.classifier = name.endswith("Classifier")
        if self.classifier:
            self.label_outputs = frozenset({"label"})

    def spec(self) -> InputSpec:
        names = getattr(self.model, "feature_names_in_", None)
        return InputSpec(
            kind="table",
            feature_names=[str(n) for n in names] if names is not None else None,
            n_features=getattr(self.model, "n_features_in_", None),
        )

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        initial = [("input", FloatTensorType([None, rows.matrix().shape[1]]))]
        opset = min(options.opset, MAX_OPSET)
        try:
            if self.library == "lightgbm":
                onx = onnxmltools.convert_lightgbm(
                    self.model, initial_types=initial, target_opset=opset, zipmap=False
                )
            else:
                onx = onnxmltools.convert_xgboost(
                    _unnamed(self.model), initial_types=initial, target_opset=opset
                )
        except (RuntimeError, ValueError, TypeError, NotImplementedError, KeyError) as exc:
            raise ExternalToolError(f"onnxmltools could not convert the {self.library} model: {exc}") from exc
        output.write_bytes(onx.SerializeToString())

    def native(self, rows: Rows) -> dict[str, Any]:
        X = rows.matrix()  # noqa: N806 - the usual name
        if self.spec().feature_names:
            pandas = require("pandas", "sklearn")
            X = pandas.DataFrame(X, columns=self.spec().feature_names)  # noqa: N806
        if self.classifier:
            return {"label": self.model.predict(X), "probabilities": self.model.predict_proba(X)}
        return {"prediction": self.model.predict(X)}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        return ["label", "probabilities"] if self.classifier else ["prediction"]

    def feed(self, rows: Rows, input_names: list[str]) -> dict[str, Any]:
        import numpy as np

        return {input_names[0]: rows.matrix().astype(np.float32)}

    def feature_names(self, rows: Rows) -> list[str] | None:
        return self.spec().feature_names or rows.names

    def class_labels(self) -> list[Any] | None:
        classes = getattr(self.model, "classes_", None) if self.classifier else None
        return [c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None

    def versions(self) -> dict[str, str | None]:
        dist = "xgboost-cpu" if self.library == "xgboost" else "lightgbm"
        return {
            self.library: version_of(dist) or version_of(self.library),
            "onnxmltools": version_of("onnxmltools"),
        }


def load_native(path: Path, library: str) -> NativeBoosterAdapter:
    """A LightGBM text model or an XGBoost JSON/UBJ model file, loaded without unpickling.

    Raises MlopsError for a file the library cannot read.
    """
    module = require(library, "boosting", "xgboost-cpu" if library == "xgboost" else None)
    require("onnxmltools", "boosting")
    try:
        booster = module.Booster(model_file=str(path))
    except Exception as exc:  # noqa: BLE001 - LightGBMError / XGBoostError, and OSError
        raise MlopsError(
            f"{path.name} is not a readable {library} model file ({type(exc).__name__}: {exc})"
        ) from exc
    return NativeBoosterAdapter(booster, library)


class NativeBoosterAdapter(Adapter):
    """A bare Booster: its objective says whether it classifies, and into how many classes."""

    converter = "onnxmltools"
    max_opset = MAX_OPSET
    accepts_missing = True
    _CLASSIFYING = ("binary", "multiclass", "multiclassova", "binary:logistic", "multi:softprob")

    def __init__(self, booster: Any, library: str) -> None:
        self.booster = booster
        self.library = library
        self.framework = library
        if library == "lightgbm":
            self.objective = str(booster.dump_model().get("objective", "")).split(" ")[0]
            self.n_features = booster.num_feature()
            names = booster.feature_name()
            self.names = None if all(n == f"Column_{i}" for i, n in enumerate(names)) else list(names)
        else:
            import json

            self.objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
            self.n_features = booster.num_features()
            self.names = list(booster.feature_names) if booster.feature_names else None
        classifying = self.objective.startswith(("binary", "multi"))
        if classifying and self.objective not in self._CLASSIFYING:
            raise MlopsError(
                f"cannot check a {library} model with objective {self.objective!r}",
                hint="probabilistic objectives convert: binary, multiclass, binary:logistic, multi:softprob",
            )
        self.classifier = classifying
        if classifying:
            self.label_outputs = frozenset({"label"})

    def spec(self) -> InputSpec:
        return InputSpec(kind="table", feature_names=self.names, n_features=self.n_features)

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType

        initial = [("input", FloatTensorType([None, self.n_features]))]
        opset = min(options.opset, MAX_OPSET)
        try:
            if self.library == "lightgbm":
                onx = onnxmltools.convert_lightgbm(
                    self.booster, initial_types=initial, target_opset=opset, zipmap=False
                )
            else:
                booster = self.booster.copy()
                booster.feature_names = None  # onnxmltools reads only positional f0, f1, ...
                onx = onnxmltools.convert_xgboost(booster, initial_types=initial, target_opset=opset)
        except (RuntimeError, ValueError, TypeError, NotImplementedError, KeyError, AttributeError) as exc:
            raise ExternalToolError(f"onnxmltools could not convert the {self.library} model: {exc}") from exc
        output.write_bytes(onx.SerializeToString())

    def native(self, rows: Rows) -> dict[str, Any]:
        import numpy as np

        X = rows.matrix()  # noqa: N806 - the usual name
        if self.library == "xgboost":
            import xgboost

            values = self.booster.predict(xgboost.DMatrix(X, feature_names=self.names))
        else:
            values = self.booster.predict(X)
        if not self.classifier:
            return {"prediction": values}
        probabilities = np.column_stack([1 - values, values]) if values.ndim == 1 else values
        return {"label": probabilities.argmax(axis=1), "probabilities": probabilities}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        return ["label", "probabilities"] if self.classifier else ["prediction"]

    def feed(self, rows: Rows, input_names: list[str]) -> dict[str, Any]:
        import numpy as np

        return {input_names[0]: rows.matrix().astype(np.float32)}

    def feature_names(self, rows: Rows) -> list[str] | None:
        return self.names or rows.names

    def class_labels(self) -> list[Any] | None:
        if not self.classifier:
            return None
        if self.library == "lightgbm":
            count = self.booster.dump_model().get("num_class", 1)
        else:
            import json

            count = int(json.loads(self.booster.save_config())["learner"]["learner_model_param"]["num_class"])
        return list(range(max(int(count), 2)))

    def versions(self) -> dict[str, str | None]:
        dist = "xgboost-cpu" if self.library == "xgboost" else "lightgbm"
        return {
            self.library: version_of(dist) or version_of(self.library),
            "onnxmltools": version_of("onnxmltools"),
        }


def _unnamed(model: Any) -> Any:
    """A copy without feature names: onnxmltools only reads XGBoost's positional f0, f1, ..."""
    import copy

    if getattr(model.get_booster(), "feature_names", None) is None:
        return model
    clone = copy.deepcopy(model)
    clone.get_booster().feature_names = None
    return clone


@cache
def register_with_skl2onnx() -> None:
    """Teach skl2onnx the LightGBM/XGBoost estimators it meets inside a Pipeline (once)."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    except ImportError:
        pass
    else:
        update_registered_converter(
            lightgbm.LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options=classifier_options,
        )
        update_registered_converter(
            lightgbm.LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
            options={"split": None},
        )
    try:
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    except ImportError:
        pass
    else:
        update_registered_converter(
            xgboost.XGBClassifier,
            "XGBoostXGBClassifier",
            calculate_linear_classifier_output_shapes,
            convert_xgboost,
            options=classifier_options,
        )
        update_registered_converter(
            xgboost.XGBRegressor,
            "XGBoostXGBRegressor",
            calculate_linear_regressor_output_shapes,
            convert_xgboost,
        )
