"""`mlops convert` for scikit-learn, LightGBM and XGBoost: always run (they are in `dev`)."""
# ruff: noqa: N806 - X is the usual name for a feature matrix

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def _one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


def _versions(cli, name: str) -> int:
    listed = cli("models", "versions", name, "--json")
    return len(listed.json) if listed.exit_code == 0 else 0


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def register(cli, path: Path, name: str, *extra: str) -> dict:
    result = cli("register", path, "--name", name, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json


@pytest.fixture
def pipeline_model(project: Path, cli, cancer) -> Path:
    """A scaler + logistic regression fitted on a DataFrame, and a sample CSV (with the target)."""
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X, y)
    joblib.dump(model, project / "lr.joblib")
    X.head(120).assign(target=y.head(120)).to_csv(project / "sample.csv", index=False)
    register(cli, project / "lr.joblib", "lr")
    return project / "sample.csv"


def test_pipeline_converts_with_parity_and_lineage(cli, pipeline_model, cancer):
    source = cli("models", "show", "lr:1", "--json").json
    result = cli("convert", "lr", "--sample", pipeline_model, "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert out["registered"] and out["ref"] == "lr:2"
    assert out["derived_from"] == {"ref": "lr:1", "digest": source["digest"]}
    parity = out["parity"]
    assert parity["passed"] and parity["rows"] == 120 and parity["mismatched_rows"] == 0
    assert parity["source"].startswith("sample ")
    by_name = {o["name"]: o for o in parity["outputs"]}
    assert by_name["label"]["label_agreement"] == 1.0
    assert by_name["probabilities"]["max_abs_diff"] < 1e-5

    shown = cli("models", "show", "lr:2", "--json").json
    assert shown["source_path"] == "mlops:lr:1"
    event = cli("audit", "log", "--action", "convert", "--json").json[0]
    assert event["subject"] == "lr:2" and event["details"]["derived_from"]["ref"] == "lr:1"
    assert shown["framework"] == "onnx"
    assert shown["tags"]["format"] == "onnx"
    assert shown["tags"]["opset"] == str(out["opset"])
    assert shown["tags"]["parity"] == "passed"
    assert shown["metadata"]["derived_from"]["digest"] == source["digest"]
    assert shown["metadata"]["parity"]["passed"] is True
    versions = shown["metadata"]["conversion"]["versions"]
    assert versions["skl2onnx"] and versions["scikit-learn"] and versions["onnxruntime"]
    signature = shown["signature"]
    assert signature["feature_names"] == list(cancer[0].columns)
    assert signature["class_labels"] == [0, 1]
    assert [i["name"] for i in signature["inputs"]] == ["input"]
    assert [o["name"] for o in signature["outputs"]] == ["label", "probabilities"]
    assert signature["outputs"][1]["dtype"] == "float"  # no ZipMap: a plain tensor

    human = cli("models", "show", "lr:2")
    assert "parity: passed on 120 rows" in human.stdout
    assert "probabilities" in human.stdout


def test_converted_model_scores_like_the_original(cli, pipeline_model, cancer, project):
    import onnxruntime as ort

    assert cli("convert", "lr", "--sample", pipeline_model, "--json").exit_code == 0
    out = project / "out"
    assert cli("models", "download", "lr:2", "--output", out).exit_code == 0
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    X, _ = cancer
    labels, probabilities = session.run(None, {"input": X.to_numpy(np.float32)})
    original = joblib.load(project / "lr.joblib")
    assert (labels == original.predict(X)).mean() > 0.99
    assert np.abs(probabilities - original.predict_proba(X)).max() < 1e-4


def test_mixed_column_transformer_uses_registered_dataset(cli, project):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 200),
            "city": rng.choice(["paris", "rome", "oslo"], 200),
            "income": rng.normal(3, 1, 200),
        }
    )
    target = np.where(frame.age + (frame.city == "rome") * 10 > 45, "yes", "no")
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    model = make_pipeline(columns, LogisticRegression()).fit(frame, target)
    joblib.dump(model, project / "mixed.joblib")
    frame.assign(target=target).to_csv(project / "train.csv", index=False)
    register(cli, project / "mixed.joblib", "mixed", "--dataset", project / "train.csv")

    result = cli("convert", "mixed", "--name", "mixed-onnx", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["ref"] == "mixed-onnx:1"
    assert result.json["parity"]["source"].startswith("dataset ")
    assert result.json["parity"]["rows"] == 200
    signature = cli("models", "show", "mixed-onnx", "--json").json["signature"]
    inputs = {i["name"]: i["dtype"] for i in signature["inputs"]}
    assert inputs == {"age": "float", "city": "string", "income": "float"}
    assert signature["class_labels"] == ["no", "yes"]
    assert signature["feature_names"] == ["age", "city", "income"]


def test_synthesised_rows_warn(cli, project):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4))
    model = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, X[:, 0] * 2)
    joblib.dump(model, project / "rf.pkl")
    register(cli, project / "rf.pkl", "rf")
    result = cli("convert", "rf", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["source"] == "synthesised"
    assert "warning: no --sample" in result.stderr
    shown = cli("models", "show", "rf:2", "--json").json
    assert shown["signature"]["feature_names"] == ["f0", "f1", "f2", "f3"]
    assert shown["signature"]["class_labels"] is None


def test_skops_file_and_explicit_opset(cli, project, cancer):
    import skops.io as sio

    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X.to_numpy(), y)
    sio.dump(model, project / "lr.skops")
    np.save(project / "rows.npy", X.to_numpy()[:50])
    register(cli, project / "lr.skops", "sk")
    result = cli("convert", "sk", "--sample", project / "rows.npy", "--opset", "15", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["opset"] == 15
    assert cli("models", "show", "sk:2", "--json").json["tags"]["opset"] == "15"


def test_features_choose_and_order_columns(cli, project):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    joblib.dump(model, project / "plain.joblib")
    # The sample's columns are in another order, with an extra one.
    pd.DataFrame({"c": X[:, 2], "id": range(80), "a": X[:, 0], "b": X[:, 1]}).to_csv(
        project / "s.csv", index=False
    )
    register(cli, project / "plain.joblib", "plain")
    wide = cli("convert", "plain", "--sample", project / "s.csv")
    assert wide.exit_code == 2
    assert "4 columns but the model takes 3" in _one_error_line(wide)
    result = cli("convert", "plain", "--sample", project / "s.csv", "--features", "a,b,c", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["mismatched_rows"] == 0
    assert cli("models", "show", "plain:2", "--json").json["signature"]["feature_names"] == ["a", "b", "c"]


def test_quantize_dynamic_records_its_own_parity(cli, project):
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 8))
    model = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=200, random_state=0).fit(X, X.sum(axis=1))
    joblib.dump(model, project / "mlp.joblib")
    np.save(project / "x.npy", X[:100])
    register(cli, project / "mlp.joblib", "mlp")
    result = cli("convert", "mlp", "--sample", project / "x.npy", "--quantize", "dynamic", "--json")
    assert result.exit_code == 0, result.stderr
    quant = result.json["quantization"]
    assert quant["mode"] == "dynamic"
    assert quant["size_after"] < quant["size_before"]
    assert quant["float_parity"]["passed"]
    assert result.json["parity"]["rtol"] == 0.1  # the looser default for int8 weights
    assert quant["rows_per_second_before"] > 0 and quant["rows_per_second_after"] > 0
    shown = cli("models", "show", "mlp:2", "--json").json
    assert shown["tags"]["quantized"] == "dynamic"
    assert "quantised (dynamic)" in cli("models", "show", "mlp:2").stdout


def _mlp(cli, project):
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 16)).astype(np.float32)
    y = (X[:, :4].sum(axis=1) > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(X, y)
    joblib.dump(model, project / "mlp.joblib")
    columns = [f"c{i}" for i in range(16)]
    pd.DataFrame(X[:200], columns=columns).to_csv(project / "calibration.csv", index=False)
    pd.DataFrame(X[200:], columns=columns).to_csv(project / "holdout.csv", index=False)
    register(cli, project / "mlp.joblib", "mlp")


def test_quantize_static_is_qdq_calibrated_and_checked(cli, project):
    import onnx

    _mlp(cli, project)
    result = cli(
        "convert", "mlp", "--sample", project / "holdout.csv", "--quantize", "static",
        "--calibration", project / "calibration.csv", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    quant = result.json["quantization"]
    assert quant["mode"] == "static" and quant["size_after"] < quant["size_before"]
    assert quant["calibration"] == {"source": f"calibration {project / 'calibration.csv'}", "rows": 200,
                                    "method": "minmax"}  # fmt: skip
    assert quant["rows_per_second_before"] > 0 and quant["speedup"] > 0
    assert result.json["parity"]["passed"] and result.json["parity"]["rows"] == 400
    downloaded = cli("models", "download", "mlp:2", "--output", project / "out")
    assert downloaded.exit_code == 0, downloaded.stderr
    graph = onnx.load(str(next((project / "out").rglob("*.onnx")))).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # activations quantised too, not only weights
    assert cli("models", "show", "mlp:2", "--json").json["tags"]["quantized"] == "static"
    assert "calibrated on 200 rows (minmax)" in cli("models", "show", "mlp:2").stdout


def test_static_calibration_without_the_model_inputs_registers_nothing(cli, project):
    _mlp(cli, project)
    (project / "other.csv").write_text("a,b\n1,2\n")
    result = cli("convert", "mlp", "--quantize", "static", "--calibration", project / "other.csv")
    assert result.exit_code == 2
    assert "calibration" in _one_error_line(result) and "the model takes 16" in result.stderr
    assert _versions(cli, "mlp") == 1


def test_parity_failure_exits_5_and_registers_nothing(cli, pipeline_model):
    args = (
        "convert",
        "lr",
        "--sample",
        pipeline_model,
        "--rtol",
        "0",
        "--atol",
        "0",
        "--max-mismatch-rate",
        "0",
    )
    result = cli(*args, "--json")
    assert result.exit_code == 5
    assert "parity check failed" in _one_error_line(result)
    report = result.json
    assert report["registered"] is False and report["ref"] is None
    assert report["parity"]["passed"] is False and report["parity"]["worst_rows"]
    assert _versions(cli, "lr") == 1

    human = cli(*args)
    assert human.exit_code == 5
    assert "worst rows" in human.stdout

    forced = cli(*args, "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert "registering it anyway" in forced.stderr
    assert cli("models", "show", forced.json["ref"], "--json").json["tags"]["parity"] == "failed"


# --- bad input: one line on stderr, non-zero exit, nothing registered --------------------------


def test_file_that_is_not_a_model(cli, project):
    (project / "notes.pkl").write_text("just some text, not a pickle\n")
    register(cli, project / "notes.pkl", "notes", "--framework", "sklearn")
    result = cli("convert", "notes")
    assert result.exit_code == 1
    assert "is not a readable pickle or joblib file" in _one_error_line(result)
    assert _versions(cli, "notes") == 1


def test_pickle_of_something_that_is_not_an_estimator(cli, project):
    joblib.dump({"weights": [1, 2, 3]}, project / "dict.joblib")
    register(cli, project / "dict.joblib", "dict", "--framework", "sklearn")
    result = cli("convert", "dict")
    assert result.exit_code == 1
    assert "holds a builtins.dict, not a model" in _one_error_line(result)
    assert _versions(cli, "dict") == 1


def test_unknown_framework(cli, project):
    joblib.dump({"weights": [1, 2, 3]}, project / "thing.joblib")
    assert register(cli, project / "thing.joblib", "thing")["framework"] == "unknown"
    result = cli("convert", "thing")
    assert result.exit_code == 2
    assert "framework 'unknown', which mlops cannot convert" in _one_error_line(result)


def test_estimator_skl2onnx_does_not_support(cli, project):
    from sklearn.kernel_ridge import KernelRidge

    X = np.random.default_rng(4).normal(size=(30, 3))
    joblib.dump(KernelRidge().fit(X, X[:, 0]), project / "kr.joblib")
    register(cli, project / "kr.joblib", "kr")
    result = cli("convert", "kr")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "skl2onnx cannot convert KernelRidge" in line
    assert "supported alternatives include" in line and "Regressor" in line
    assert _versions(cli, "kr") == 1


def test_corrupt_file(cli, project, cancer):
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X.to_numpy(), y)
    joblib.dump(model, project / "full.joblib")
    data = (project / "full.joblib").read_bytes()
    (project / "cut.joblib").write_bytes(data[: len(data) // 2])
    register(cli, project / "cut.joblib", "cut")
    result = cli("convert", "cut")
    assert result.exit_code == 1
    assert "is not a readable pickle or joblib file" in _one_error_line(result)
    assert _versions(cli, "cut") == 1


def test_tampered_blob_is_refused_before_loading(cli, project, pipeline_model, store):
    version = cli("models", "show", "lr:1", "--json").json
    blob = store.objects.path_for(version["files"][0]["digest"])
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = cli("convert", "lr", "--sample", pipeline_model)
    assert result.exit_code == 5
    assert "corrupt" in _one_error_line(result)
    assert _versions(cli, "lr") == 1


def test_sample_whose_columns_do_not_match(cli, pipeline_model, project):
    frame = pd.read_csv(pipeline_model).drop(columns=["mean radius", "worst area"])
    frame.to_csv(project / "short.csv", index=False)
    result = cli("convert", "lr", "--sample", project / "short.csv")
    assert result.exit_code == 2
    assert "lacks the column(s) mean radius, worst area" in _one_error_line(result)
    assert _versions(cli, "lr") == 1


def test_text_in_a_numeric_model_sample(cli, project):
    X = np.random.default_rng(5).normal(size=(40, 2))
    joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), project / "two.joblib")
    (project / "words.csv").write_text("a,b\n1.0,x\n2.0,y\n")
    register(cli, project / "two.joblib", "two")
    result = cli("convert", "two", "--sample", project / "words.csv")
    assert result.exit_code == 2
    assert "text columns (b)" in _one_error_line(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--quantize", "int4"), "unknown --quantize mode"),
        (("--quantize", "static"), "--quantize static needs --calibration"),
        (("--quantize", "dynamic", "--calibration", "rows.csv"), "--calibration is for --quantize static"),
        (("--opset", "999"), "opset 999 is not supported"),
        (("--input-shape", "a,b"), "--input-shape"),
        (("--rtol", "-1"), "--rtol must be >= 0"),
        (("--max-mismatch-rate", "2"), "--max-mismatch-rate"),
        (("--sample", "missing.csv"), "no such file"),
        (("--sample", "rows.txt"), "cannot read .txt files"),
        (("--features", ","), "--features needs at least one"),
        (("--name", "Bad Name"), "invalid model name"),
    ],
)
def test_bad_options(cli, pipeline_model, project, args, expected):
    (project / "rows.txt").write_text("1,2\n")
    result = cli("convert", "lr", *args)
    assert result.exit_code == 2
    assert expected in _one_error_line(result)
    assert _versions(cli, "lr") == 1


def test_already_onnx(cli, pipeline_model):
    assert cli("convert", "lr", "--sample", pipeline_model).exit_code == 0
    result = cli("convert", "lr:2")
    assert result.exit_code == 2
    assert "already an ONNX model" in _one_error_line(result)


def test_missing_extra_names_the_pip_command(cli, pipeline_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    result = cli("convert", "lr", "--sample", pipeline_model)
    assert result.exit_code == 1
    assert "pip install 'mlops-cli[sklearn]'" in _one_error_line(result)


def test_help_warns_that_pickles_run_code(cli):
    result = cli("convert", "--help")
    assert result.exit_code == 0
    assert "runs code" in result.stdout
    for option in ("--sample", "--opset", "--features", "--input-shape", "--rtol", "--atol", "--quantize"):
        assert option in result.stdout


# --- LightGBM and XGBoost ----------------------------------------------------------------------


def _continuous(n: int = 400, seed: int = 6) -> tuple[pd.DataFrame, np.ndarray]:
    """Continuous features: no row lies exactly on a split threshold."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x {i}" for i in range(5)])
    return frame, (frame["x 0"] + frame["x 1"] * frame["x 2"] > 0).astype(int).to_numpy()


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_boosting_classifier(cli, project, library):
    frame, y = _continuous()
    if library == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1).fit(frame.iloc[:300], y[:300])
    else:
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=30).fit(frame.iloc[:300], y[:300])
    joblib.dump(model, project / "boost.joblib")
    frame.iloc[300:].to_csv(project / "holdout.csv", index=False)
    assert register(cli, project / "boost.joblib", "boost")["framework"] == library
    result = cli("convert", "boost", "--sample", project / "holdout.csv", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["converter"] == "onnxmltools"
    assert result.json["opset"] <= 15
    assert result.json["parity"]["passed"] and result.json["parity"]["mismatched_rows"] == 0
    shown = cli("models", "show", "boost:2", "--json").json
    assert shown["signature"]["class_labels"] == [0, 1]
    assert shown["metadata"]["conversion"]["versions"][library]
    # NaN means "missing" to these models and to their ONNX graphs alike: the signature says
    # so, and score-batch scores rows with empty cells as the original model does.
    assert shown["signature"]["accepts_missing"] is True
    gaps = frame.iloc[300:330].copy()
    gaps.iloc[::3, 1] = np.nan
    gaps.to_csv(project / "gaps.csv", index=False)
    out = project / "gaps.parquet"
    names = ",".join(frame.columns)  # LightGBM records its sanitised names (x_0): map them back
    job = cli("score-batch", "boost:2", "-i", project / "gaps.csv", "-o", out, "--features", names, "--json")
    assert job.exit_code == 0, job.stderr
    assert job.json["details"]["rows_scored"] == 30
    import pyarrow.parquet as pq

    scored = pq.read_table(out).column("proba_1").to_numpy()
    np.testing.assert_allclose(scored, model.predict_proba(gaps)[:, 1], rtol=1e-4, atol=1e-6)


def test_xgboost_regressor_and_boosters_inside_pipelines(cli, project):
    import lightgbm
    import xgboost

    frame, y = _continuous(seed=7)
    X = frame.to_numpy()
    target = X[:, 0] * 3 + X[:, 1]
    models = {
        "xgbr": xgboost.XGBRegressor(n_estimators=20).fit(X[:300], target[:300]),
        "xgbpipe": make_pipeline(StandardScaler(), xgboost.XGBClassifier(n_estimators=20)).fit(
            X[:300], y[:300]
        ),
        "lgbpipe": make_pipeline(StandardScaler(), lightgbm.LGBMRegressor(n_estimators=20, verbose=-1)).fit(
            X[:300], target[:300]
        ),
    }
    np.save(project / "holdout.npy", X[300:])
    for name, model in models.items():
        joblib.dump(model, project / f"{name}.joblib")
        register(cli, project / f"{name}.joblib", name)
        result = cli("convert", name, "--sample", project / "holdout.npy", "--json")
        assert result.exit_code == 0, (name, result.stderr)
        parity = result.json["parity"]
        assert parity["passed"], (name, json.dumps(parity))
        assert parity["mismatch_rate"] <= 0.001


def test_quantize_a_graph_of_only_ml_ops(cli, pipeline_model):
    """skl2onnx writes the default domain twice here; the quantiser needs it exactly once."""
    result = cli("convert", "lr", "--sample", pipeline_model, "--quantize", "dynamic", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["passed"]


@pytest.mark.parametrize(
    ("library", "objective", "filename"),
    [
        ("lightgbm", "binary", "model.txt"),
        ("lightgbm", "regression", "model.txt"),
        ("xgboost", "multi:softprob", "model.json"),
        ("xgboost", "binary:logistic", "model.ubj"),
    ],
)
def test_native_booster_files(cli, project, library, objective, filename):
    """LightGBM text and XGBoost JSON/UBJ model files: no pickle involved."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 5))
    target = rng.integers(0, 3, 300) if objective.startswith("multi") else (X[:, 0] > 0).astype(int)
    if library == "lightgbm":
        import lightgbm

        booster = lightgbm.train({"objective": objective, "verbose": -1}, lightgbm.Dataset(X, target), 10)
    else:
        import xgboost

        params = {"objective": objective, **({"num_class": 3} if objective.startswith("multi") else {})}
        booster = xgboost.train(params, xgboost.DMatrix(X, target), 10)
    booster.save_model(str(project / filename))
    np.save(project / "rows.npy", rng.normal(size=(100, 5)))
    assert register(cli, project / filename, "native")["framework"] == library
    result = cli("convert", "native", "--sample", project / "rows.npy", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["passed"] and result.json["parity"]["mismatched_rows"] == 0
    labels = cli("models", "show", "native:2", "--json").json["signature"]["class_labels"]
    expected = None if objective == "regression" else [0, 1, 2] if objective.startswith("multi") else [0, 1]
    assert labels == expected


def test_corrupt_native_booster_file(cli, project):
    (project / "model.txt").write_text("tree\nversion=v4\nnum_class=1\nthis is not a model\n")
    assert register(cli, project / "model.txt", "broken")["framework"] == "lightgbm"
    result = cli("convert", "broken")
    assert result.exit_code == 1
    assert "is not a readable lightgbm model file" in _one_error_line(result)


def test_classifier_without_probabilities_compares_labels(cli, project):
    from sklearn.svm import LinearSVC

    X = np.random.default_rng(9).normal(size=(120, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    joblib.dump(LinearSVC().fit(X, y), project / "svc.joblib")
    np.save(project / "rows.npy", X)
    register(cli, project / "svc.joblib", "svc")
    result = cli("convert", "svc", "--sample", project / "rows.npy", "--json")
    assert result.exit_code == 0, result.stderr
    assert [o["name"] for o in result.json["parity"]["outputs"]] == ["label"]
    assert result.json["parity"]["outputs"][0]["label_agreement"] == 1.0
    assert cli("models", "show", "svc:2", "--json").json["signature"]["class_labels"] == ["down", "up"]


def test_parquet_sample(cli, pipeline_model, project):
    pd.read_csv(pipeline_model).to_parquet(project / "sample.parquet")
    result = cli("convert", "lr", "--sample", project / "sample.parquet", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["parity"]["rows"] == 120 and result.json["parity"]["passed"]
