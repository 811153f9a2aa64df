"""`mlops convert` for PyTorch and Keras/TensorFlow.

Skipped only where the extra is absent (`pip install -e '.[torch]'` / `'.[tensorflow]'`); CI
installs both, so there they always run.
"""

from __future__ import annotations

import importlib
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest


def _extra(module: str):
    """Skip without the extra locally; in CI (CI=true) a missing extra is a failure, not a skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    return lines[-1]


def _register(cli, path: Path, name: str) -> dict:
    result = cli("register", path, "--name", name, "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def _assert_converted(cli, result, name: str) -> dict:
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["passed"], result.json["parity"]
    assert result.json["parity"]["outputs"][0]["max_abs_diff"] < 1e-5
    shown = cli("models", "show", result.json["ref"], "--json").json
    assert [f["path"] for f in shown["files"]] == ["model.onnx"]  # weights inline, no .onnx.data
    batch = shown["signature"]["inputs"][0]["shape"][0]
    assert isinstance(batch, str) or batch is None, "the batch axis must be dynamic"
    return shown


@pytest.fixture
def rows(project: Path) -> Path:
    path = project / "rows.npy"
    np.save(path, np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32))
    return path


# --- PyTorch -----------------------------------------------------------------------------------


@pytest.fixture
def mlp():
    torch = _extra("torch")
    _extra("onnxscript")
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)).eval()


def test_torch_pickled_module(cli, project, mlp, rows):
    import torch

    torch.save(mlp, project / "mlp.pt")
    assert _register(cli, project / "mlp.pt", "mlp")["framework"] == "pytorch"
    result = cli("convert", "mlp", "--sample", rows, "--json")
    shown = _assert_converted(cli, result, "mlp")
    assert result.json["converter"] == "torch.onnx"
    assert shown["metadata"]["conversion"]["versions"]["torch"].startswith("2.13.0")


def test_torchscript_needs_a_shape_then_converts(cli, project, mlp):
    import torch

    torch.jit.script(mlp).save(str(project / "mlp_ts.pt"))
    _register(cli, project / "mlp_ts.pt", "ts")
    no_shape = cli("convert", "ts")
    assert no_shape.exit_code == 2
    assert "--input-shape" in _one_error_line(no_shape)
    result = cli("convert", "ts", "--input-shape", "8", "--json")
    _assert_converted(cli, result, "ts")
    assert result.json["parity"]["source"] == "synthesised"


def test_torch_export_program(cli, project, mlp, rows):
    import torch

    dynamic = torch.export.export(mlp, (torch.randn(4, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(dynamic, str(project / "mlp.pt2"))
    _register(cli, project / "mlp.pt2", "exported")
    _assert_converted(cli, cli("convert", "exported", "--sample", rows, "--json"), "exported")

    fixed = torch.export.export(mlp, (torch.randn(4, 8),))
    torch.export.save(fixed, str(project / "fixed.pt2"))
    _register(cli, project / "fixed.pt2", "fixed")
    result = cli("convert", "fixed", "--sample", rows)
    assert result.exit_code == 2
    assert "fixed batch size of 4" in _one_error_line(result)


def test_torch_state_dict_is_refused(cli, project, mlp):
    import torch

    torch.save(mlp.state_dict(), project / "weights.pt")
    _register(cli, project / "weights.pt", "weights")
    result = cli("convert", "weights", "--input-shape", "8")
    assert result.exit_code == 1
    assert "state_dict" in _one_error_line(result)


def test_torch_sample_of_the_wrong_width(cli, project, mlp):
    import torch

    torch.save(mlp, project / "mlp.pt")
    _register(cli, project / "mlp.pt", "mlp")
    np.save(project / "wide.npy", np.zeros((10, 5), dtype=np.float32))
    result = cli("convert", "mlp", "--sample", project / "wide.npy", "--input-shape", "8")
    assert result.exit_code == 2
    assert "5 values per row but the model takes 8" in _one_error_line(result)


def test_torch_missing_extra(cli, project, monkeypatch):
    (project / "m.pt").write_bytes(b"\x80\x04K\x01.")
    _register(cli, project / "m.pt", "m")
    monkeypatch.setitem(sys.modules, "torch", None)
    result = cli("convert", "m")
    assert result.exit_code == 1
    assert "pip install 'mlops-cli[torch]'" in _one_error_line(result)


# --- Keras / TensorFlow ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    _extra("tensorflow")
    _extra("tf2onnx")
    import keras

    return keras


def _keras_mlp(keras, activation: str = "relu"):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation=activation),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_file(cli, project, keras, rows, suffix):
    _keras_mlp(keras).save(project / f"k{suffix}")
    assert _register(cli, project / f"k{suffix}", "k")["framework"] == "keras"
    result = cli("convert", "k", "--sample", rows, "--json")
    _assert_converted(cli, result, "k")
    assert result.json["converter"] == "tf2onnx" and result.json["opset"] <= 18


def test_keras3_export_saved_model(cli, project, keras, rows):
    _keras_mlp(keras).export(str(project / "saved"))
    assert _register(cli, project / "saved", "saved")["framework"] == "tensorflow"
    _assert_converted(cli, cli("convert", "saved", "--sample", rows, "--json"), "saved")


def test_exact_gelu_erfc_is_rewritten_and_proved(cli, project, keras, rows):
    _keras_mlp(keras, activation="gelu").save(project / "gelu.keras")
    _register(cli, project / "gelu.keras", "gelu")
    result = cli("convert", "gelu", "--sample", rows, "--json")
    _assert_converted(cli, result, "gelu")


def test_keras_quantized(cli, project, keras, rows):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(1)]
    )
    model.save(project / "big.keras")
    _register(cli, project / "big.keras", "big")
    result = cli("convert", "big", "--sample", rows, "--quantize", "dynamic", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["quantization"]["size_reduction"] > 0.3


def test_corrupt_keras_file(cli, project, keras):
    with zipfile.ZipFile(project / "bad.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"nope")
    _register(cli, project / "bad.keras", "bad")
    result = cli("convert", "bad")
    assert result.exit_code == 1
    assert "is not a loadable Keras/TensorFlow model" in _one_error_line(result)


def test_tensorflow_missing_extra(cli, project, monkeypatch):
    with zipfile.ZipFile(project / "m.keras", "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")
    _register(cli, project / "m.keras", "m")
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    result = cli("convert", "m")
    assert result.exit_code == 1
    assert "pip install 'mlops-cli[tensorflow]'" in _one_error_line(result)
