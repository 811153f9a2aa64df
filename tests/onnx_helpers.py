"""Small scikit-learn models converted with skl2onnx and registered, for runtime and batch tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_FEATURES = 4
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def training_data(rows: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def to_onnx_file(model, x: np.ndarray, path: Path) -> Path:
    from skl2onnx import to_onnx

    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    onx = to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path


def logistic_onnx(folder: Path, labels: list | None = None) -> Path:
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    if labels is not None:
        y = np.array(labels, dtype=object)[y % len(labels)]
    return to_onnx_file(LogisticRegression().fit(x, y), x, folder / "logistic.onnx")


def forest_onnx(folder: Path) -> Path:
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, y)
    return to_onnx_file(model, x, folder / "forest.onnx")


def regressor_onnx(folder: Path) -> Path:
    from sklearn.linear_model import LinearRegression

    x, _ = training_data()
    return to_onnx_file(LinearRegression().fit(x, x[:, 0] * 2), x, folder / "linear.onnx")


def register_onnx(store, path: Path, name: str, features: list[str] | None = FEATURES, class_labels=None):
    """Register an .onnx file the way `mlops convert` will: signature plus feature names."""
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature

    signature = onnx_signature(path)
    signature["feature_names"] = features
    signature["class_labels"] = class_labels
    return register_model(store, path, name=name, framework="onnx", signature=signature)


def direct_run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    """The reference: a bare onnxruntime session on the same rows."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
