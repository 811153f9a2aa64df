"""One value rule on every path: a real `mlops serve` (v2 JSON, v2 binary, /invocations) and
`mlops score-batch` (CSV, JSON Lines) refuse the same values with the same reason, and all take
missing values when the model's signature says it takes them."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx, training_data
from tests.serving_helpers import start_server

pytestmark = pytest.mark.integration

# (JSON value, CSV cell or None when CSV cannot say it, the reason every path gives)
CASES = [
    (None, "", "missing value"),
    (1e300, "1e300", "1e+300 is out of range for FP32"),
    (-1e39, "-1e39", "-1e+39 is out of range for FP32"),
    ("1.5", None, "'1.5' is a string, not a number"),
    (True, None, "true is a boolean, not a number"),
]


@pytest.fixture
def models(project, store):
    path = logistic_onnx(project)
    register_onnx(store, path, "clf")
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature

    # The same model, its signature saying it takes missing values (as gradient boosting does).

    signature = {**onnx_signature(path), "feature_names": FEATURES, "accepts_missing": True}
    register_model(store, path, name="lenient", framework="onnx", signature=signature)
    return project


@pytest.fixture
def server(models):
    started = start_server(models, "clf", log_name="rule-clf")
    yield started
    started.stop()


def _rows(value) -> list[list]:
    rows = training_data(3)[0].astype(float).tolist()
    rows[1][2] = value
    return rows


def _batch_error(cli, project, name: str, text: str) -> str:
    path = project / name
    path.write_text(text)
    result = cli("score-batch", "clf", "-i", path, "-o", project / "out.parquet")
    assert result.exit_code == 1, result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize(("value", "cell", "reason"), CASES)
def test_every_path_refuses_the_same_values(cli, models, server, value, cell, reason):
    rows = _rows(value)
    with server.client() as client:
        v2 = client.post(
            "/v2/models/clf/infer",
            json={"inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": rows}]},
        )
        flat = client.post(
            "/v2/models/clf/infer",
            json={"inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": sum(rows, [])}]},
        )
        invocations = client.post(
            "/invocations", json={"dataframe_split": {"columns": FEATURES, "data": rows}}
        )
    for response in (v2, flat):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == f"input 'X' (FP32), row 2: {reason}"
    assert invocations.status_code == 400, invocations.text
    assert invocations.json()["error"] == f"input 'X': column 'f2', row 2: {reason}"

    records = [dict(zip(FEATURES, r, strict=True)) for r in rows]
    jsonl = _batch_error(cli, models, "in.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    assert jsonl.startswith(f"error: in.jsonl: row 2: column 'f2': {reason} (fix the data")
    if cell is not None:
        lines = [",".join(FEATURES)] + [",".join(str(v) for v in r) for r in rows]
        lines[2] = ",".join(cell if j == 2 else str(v) for j, v in enumerate(rows[1]))
        csv = _batch_error(cli, models, "in.csv", "\n".join(lines) + "\n")
        assert f"in.csv: row 2: column 'f2': {reason} (" in csv


def test_csv_nan_and_inf_and_binary_tensors_follow_the_rule(cli, models, server):
    rows = training_data(3)[0]
    lines = [",".join(FEATURES)] + [",".join(str(v) for v in r) for r in rows.tolist()]
    # pyarrow reads a NaN cell as missing; either way the row is refused.
    for cell, reasons in (("NaN", ("NaN", "missing value")), ("inf", ("inf is not a finite number",))):
        lines[2] = f"{cell},1,1,1"
        error = _batch_error(cli, models, "in.csv", "\n".join(lines) + "\n")
        assert any(f"row 2: column 'f0': {reason} (" in error for reason in reasons), error
    bad = rows.copy()
    bad[1, 3] = np.nan
    header = json.dumps(
        {
            "inputs": [
                {"name": "X", "shape": [3, 4], "datatype": "FP32", "parameters": {"binary_data_size": 48}}
            ]
        }
    ).encode()
    with server.client() as client:
        response = client.post(
            "/v2/models/clf/infer",
            content=header + bad.astype("<f4").tobytes(),
            headers={
                "content-type": "application/octet-stream",
                "inference-header-content-length": str(len(header)),
            },
        )
    assert response.status_code == 400 and response.json()["error"] == "input 'X' (FP32), row 2: NaN"


def test_a_model_that_takes_missing_values_gets_them_everywhere(cli, models):
    lenient = start_server(models, "lenient", log_name="rule-lenient")
    try:
        rows = _rows(None)
        v2 = httpx.post(
            lenient.url + "/v2/models/lenient/infer",
            json={"inputs": [{"name": "X", "shape": [3, 4], "datatype": "FP32", "data": rows}]},
        )
        assert v2.status_code == 200, v2.text
        invocations = httpx.post(
            lenient.url + "/invocations", json={"dataframe_split": {"columns": FEATURES, "data": rows}}
        )
        assert invocations.status_code == 200, invocations.text
        too_big = httpx.post(
            lenient.url + "/invocations",
            json={"dataframe_split": {"columns": FEATURES, "data": _rows(1e300)}},
        )
        assert too_big.status_code == 400 and "out of range for FP32" in too_big.json()["error"]
    finally:
        lenient.stop()
    path = models / "in.csv"
    lines = [",".join(FEATURES)] + [",".join(str(v) for v in r) for r in training_data(3)[0].tolist()]
    lines[2] = ",NaN,1,1"
    path.write_text("\n".join(lines) + "\n")
    job = cli("score-batch", "lenient", "-i", path, "-o", models / "out.parquet", "--json")
    assert job.exit_code == 0, job.stderr
    assert job.json["details"]["rows_scored"] == 3
