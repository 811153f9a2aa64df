"""The runtime layer: sessions, schemas, table -> feeds, outputs -> columns, the store loader."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlops_cli.errors import UsageError
from mlops_cli.runtime import session as session_module
from mlops_cli.runtime.graph import class_labels_from_graph
from mlops_cli.runtime.loader import resolve_onnx
from mlops_cli.runtime.mapping import InputError, output_columns, schema_from_signature
from mlops_cli.runtime.predictor import Predictor
from mlops_cli.runtime.session import SessionConfig, get_session
from tests.onnx_helpers import (
    FEATURES,
    direct_run,
    forest_onnx,
    logistic_onnx,
    register_onnx,
    regressor_onnx,
    training_data,
)


def _table(x: np.ndarray) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({name: x[:, j].astype(np.float64) for j, name in enumerate(FEATURES)})


def test_predictor_matches_direct_onnxruntime(project):
    path = forest_onnx(project)
    x, _ = training_data(50, seed=3)
    predictor = Predictor.from_path(path, features=FEATURES)
    columns = predictor.predict(_table(x))
    label, proba = direct_run(path, x)
    assert list(columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_array_equal(columns["prediction"], label)
    np.testing.assert_array_equal(columns["proba_1"], proba[:, 1])


def test_class_labels_come_from_the_graph(project):
    path = logistic_onnx(project, labels=["no", "yes"])
    assert class_labels_from_graph(path) == ["no", "yes"]
    predictor = Predictor.from_path(path, features=FEATURES)
    out = predictor.predict({name: [0.1, -2.0] for name in FEATURES})
    assert set(out) == {"prediction", "proba_no", "proba_yes"}
    assert set(out["prediction"]) <= {"no", "yes"}
    assert output_columns(predictor.schema) == ["prediction", "proba_no", "proba_yes"]


def test_regressor_gives_one_prediction_column(project):
    path = regressor_onnx(project)
    out = Predictor.from_path(path, features=FEATURES).predict({n: [1.0, 2.0] for n in FEATURES})
    assert list(out) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], [2.0, 4.0], rtol=1e-5)


def test_missing_column_is_named(project):
    predictor = Predictor.from_path(logistic_onnx(project), features=FEATURES)
    with pytest.raises(InputError, match="missing column 'f2'"):
        predictor.predict({"f0": [1.0], "f1": [1.0], "f3": [1.0]})


def test_bad_value_names_column_and_row(project):
    predictor = Predictor.from_path(logistic_onnx(project), features=FEATURES)
    table = {n: ["1.5", "2", "3"] for n in FEATURES}
    table["f1"] = ["1.0", "2.0", "abc"]
    with pytest.raises(InputError) as info:
        predictor.predict(table, row_offset=10, where="data.csv: ")
    assert "data.csv: row 13: column 'f1': 'abc' is not a number" in str(info.value)
    assert info.value.row == 13 and info.value.column == "f1"


def test_nan_and_null_are_bad_rows_that_convert_reports(project):
    predictor = Predictor.from_path(logistic_onnx(project), features=FEATURES)
    table = {n: [1.0, 2.0, 3.0, 4.0] for n in FEATURES}
    table["f0"] = [1.0, float("nan"), 3.0, None]
    converted = predictor.convert(table)
    assert converted.failed == 2
    assert converted.reasons == {1: "column 'f0': NaN", 3: "column 'f0': missing value"}
    assert converted.good_feeds()["X"].shape == (2, 4)


def test_unnamed_features_need_features_option(project):
    path = logistic_onnx(project)
    predictor = Predictor.from_path(path)
    with pytest.raises(InputError, match="names were not recorded"):
        predictor.predict({n: [1.0] for n in FEATURES})
    with pytest.raises(UsageError, match="takes 4 features"):
        Predictor.from_path(path, features=["a", "b"])


def test_columns_layout_for_one_input_per_column():
    signature = {
        "inputs": [
            {"name": "age", "type": "tensor", "dtype": "int64", "shape": [None, 1]},
            {"name": "city", "type": "tensor", "dtype": "string", "shape": [None, 1]},
        ],
        "outputs": [{"name": "variable", "type": "tensor", "dtype": "float", "shape": [None, 1]}],
    }
    schema = schema_from_signature(signature)
    assert schema.layout == "columns" and schema.columns == ("age", "city")
    from mlops_cli.runtime.mapping import convert

    converted = convert(schema, {"age": [1, 2.5, "7"], "city": ["a", "b", None]})
    assert converted.feeds["age"].dtype == np.int64 and converted.feeds["age"].shape == (3, 1)
    assert converted.feeds["city"].dtype == object
    assert converted.reasons == {1: "column 'age': 2.5 is not an integer", 2: "column 'city': missing value"}


def test_sessions_are_cached_per_digest_and_config(project):
    path = logistic_onnx(project)
    session_module.clear_session_cache()
    first = get_session(path, SessionConfig(intra_op_threads=1), digest="sha256:" + "a" * 64)
    assert get_session(path, SessionConfig(intra_op_threads=1), digest="sha256:" + "a" * 64) is first
    assert get_session(path, SessionConfig(intra_op_threads=2), digest="sha256:" + "a" * 64) is not first
    with pytest.raises(UsageError):
        SessionConfig(optimization="fast")


def test_not_onnx_file_is_a_clear_error(project):
    bogus = project / "model.onnx"
    bogus.write_bytes(b"not a model")
    from mlops_cli.errors import MlopsError

    with pytest.raises(MlopsError, match="onnxruntime cannot load"):
        session_module.create_session(bogus)


def test_loader_resolves_verifies_and_refuses_non_onnx(project, store, model_file):
    path = logistic_onnx(project)
    version = register_onnx(store, path, "churn")
    resolved = resolve_onnx(store, "churn")
    assert resolved.ref == "churn:1" and resolved.digest == version.digest
    assert resolved.model_path.read_bytes() == path.read_bytes()
    assert resolved.feature_names == FEATURES
    # A tampered cached copy is replaced by a verified one.
    resolved.model_path.chmod(0o644)
    resolved.model_path.write_bytes(b"tampered")
    again = resolve_onnx(store, "churn:1")
    assert again.model_path.read_bytes() == path.read_bytes()

    from mlops_cli.models.registering import register_model

    register_model(store, model_file, name="raw", framework="sklearn")
    with pytest.raises(UsageError, match="not ONNX"):
        resolve_onnx(store, "raw")


def test_runtime_without_the_store_imports_no_store_cli_or_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys, mlops_cli.runtime.predictor, mlops_cli.runtime.mapping, mlops_cli.runtime.session;"
        "bad = [m for m in sys.modules if m.startswith(('mlops_cli.store', 'mlops_cli.cli', 'typer', 'rich',"
        " 'onnxruntime', 'numpy', 'pyarrow', 'onnx'))];"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
