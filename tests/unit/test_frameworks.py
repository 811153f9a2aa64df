"""Framework detection reads files without running them; signatures come from the ONNX graph."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_cli.models.frameworks import detect_file, detect_framework
from mlops_cli.models.signature import onnx_signature, read_signature


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(int)
    return LogisticRegression().fit(features, labels), features, labels


def test_sklearn_pickle_and_joblib(fitted, tmp_path):
    model, _, _ = fitted
    with open(tmp_path / "m.pkl", "wb") as handle:
        pickle.dump(model, handle)
    joblib.dump(model, tmp_path / "m.joblib")
    assert detect_file(tmp_path / "m.pkl") == "sklearn"
    assert detect_file(tmp_path / "m.joblib") == "sklearn"
    # no suffix: the pickle protocol byte is enough
    (tmp_path / "model").write_bytes((tmp_path / "m.pkl").read_bytes())
    assert detect_file(tmp_path / "model") == "sklearn"


def test_a_pickle_of_something_else_is_unknown(tmp_path):
    with open(tmp_path / "d.pkl", "wb") as handle:
        pickle.dump({"not": "a model"}, handle)
    assert detect_file(tmp_path / "d.pkl") == "unknown"


def test_lightgbm_and_xgboost_native_files(fitted, tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    _, features, labels = fitted
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, lightgbm.Dataset(features, labels), 3)
    booster.save_model(str(tmp_path / "lgb.txt"))
    assert detect_file(tmp_path / "lgb.txt") == "lightgbm"
    xgb = xgboost.XGBClassifier(n_estimators=3).fit(features, labels)
    xgb.save_model(str(tmp_path / "xgb.json"))
    xgb.save_model(str(tmp_path / "xgb.ubj"))
    assert detect_file(tmp_path / "xgb.json") == "xgboost"
    assert detect_file(tmp_path / "xgb.ubj") == "xgboost"
    with open(tmp_path / "lgb.pkl", "wb") as handle:
        pickle.dump(lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(features, labels), handle)
    assert detect_file(tmp_path / "lgb.pkl") == "lightgbm"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("m.onnx", "onnx"),
        ("m.keras", "keras"),
        ("m.h5", "keras"),
        ("m.pt", "pytorch"),
        ("m.pth", "pytorch"),
        ("notes.txt", "unknown"),
    ],
)
def test_by_suffix(tmp_path, name, expected):
    (tmp_path / name).write_bytes(b"whatever")
    assert detect_file(tmp_path / name) == expected


def test_saved_model_folder(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "saved_model.pb").write_bytes(b"x")
    assert detect_framework(tmp_path, ["saved_model.pb"]) == "tensorflow"


def test_onnx_signature_from_a_real_graph(fitted, tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    model, features, _ = fitted
    onx = skl2onnx.to_onnx(model, features[:1], options={"zipmap": False})
    (tmp_path / "m.onnx").write_bytes(onx.SerializeToString())
    signature = onnx_signature(tmp_path / "m.onnx")
    assert signature["inputs"] == [{"name": "X", "type": "tensor", "dtype": "float", "shape": [None, 4]}]
    assert [o["name"] for o in signature["outputs"]] == ["label", "probabilities"]
    assert signature["outputs"][1]["shape"] == [None, 2]
    assert signature["opsets"]["ai.onnx.ml"] >= 1


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    pytest.importorskip("onnx")
    from mlops_cli.errors import MlopsError

    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is not protobuf\xff\xff")
    with pytest.raises(MlopsError, match="not a valid ONNX model"):
        read_signature("onnx", tmp_path / "bad.onnx", [])
