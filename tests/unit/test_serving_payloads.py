"""Every MLflow payload form (JSON and CSV) against a model with and one without feature names,
authentication before routing, and the type of every v2 field checked: the real app over a
real onnxruntime session, driven in process through ASGI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.asgi_helpers import call, post_json, served_app
from tests.onnx_helpers import FEATURES, direct_run, logistic_onnx, training_data


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return logistic_onnx(tmp_path_factory.mktemp("payloads"), labels=["no", "yes"])


@pytest.fixture(scope="module")
def named(model_file):
    return served_app(model_file, "clf", FEATURES, ["no", "yes"])


@pytest.fixture(scope="module")
def unnamed(model_file):
    return served_app(model_file, "plain", None, ["no", "yes"])


ROWS = training_data(3, seed=7)[0]


def _json_forms(columns: list[str]) -> list[dict]:
    rows = ROWS.tolist()
    records = [dict(zip(columns, r, strict=True)) for r in rows]
    return [
        {"dataframe_split": {"columns": columns, "data": rows}},
        {"dataframe_split": {"index": [0, 1, 2], "columns": columns, "data": rows}},
        {"dataframe_split": {"data": rows}},
        {"dataframe_records": records},
        {"instances": rows},
        {"instances": records},
        {"inputs": rows},
        {"inputs": {name: ROWS[:, j].tolist() for j, name in enumerate(columns)}},
        {"dataframe_split": {"columns": columns, "data": rows}, "params": {"unused": 1}},
    ]


def _csv_forms(columns: list[str]) -> list[bytes]:
    rows = ROWS.tolist()
    plain = ",".join(columns) + "\r\n" + "".join(",".join(map(repr, r)) + "\r\n" for r in rows)
    # pandas.DataFrame.to_csv() writes the index as a first, unnamed column.
    indexed = ",".join(["", *columns]) + "\n"
    indexed += "".join(",".join([str(i), *map(repr, r)]) + "\n" for i, r in enumerate(rows))
    return [plain.encode(), indexed.encode()]


@pytest.mark.parametrize("which", ["named", "unnamed"])
def test_every_mlflow_form_scores_the_same(which, request, model_file):
    """Issue #17.9: CSV failed for a model without feature names while JSON scored."""
    app = request.getfixturevalue(which)
    label, proba = direct_run(model_file, ROWS)
    # Without feature names the header's names are the caller's own: columns count by position.
    columns = FEATURES if which == "named" else ["a", "b", "c", "d"]
    requests = [(json.dumps(p).encode(), "application/json") for p in _json_forms(columns)]
    requests += [(body, "text/csv") for body in _csv_forms(columns)]
    for body, content_type in requests:
        response = call(app, "POST", "/invocations", body, {"content-type": content_type})
        assert response.status == 200, (body[:80], response.body)
        predictions = response.json()["predictions"]
        assert [p["prediction"] for p in predictions] == label.tolist(), body[:80]
        np.testing.assert_allclose([p["proba_yes"] for p in predictions], proba[:, 1], rtol=1e-6)


def test_csv_without_feature_names_checks_values_and_width(unnamed):
    bad = call(unnamed, "POST", "/invocations", b"a,b,c,d\n1,2,x,4\n", {"content-type": "text/csv"})
    assert bad.status == 400 and bad.json()["error"] == "column 'c', row 1: 'x' is not a number"
    narrow = call(unnamed, "POST", "/invocations", b"a,b,c\n1,2,3\n", {"content-type": "text/csv"})
    assert narrow.status == 400 and "4 values per row" in narrow.json()["error"]


def test_csv_with_feature_names_reads_columns_by_name(named):
    """The header decides the order when the model names its features."""
    rows = ROWS[:, ::-1].tolist()
    body = ",".join(FEATURES[::-1]) + "\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows)
    response = call(named, "POST", "/invocations", body.encode(), {"content-type": "text/csv"})
    expected = post_json(named, "/invocations", {"instances": ROWS.tolist()})
    assert response.status == 200 and response.json() == expected.json()


# --- authentication before routing (issue #17.10) ------------------------------------------------


@pytest.fixture(scope="module")
def guarded(model_file):
    import os

    os.environ["PAYLOADS_TEST_KEY"] = "s3cret"
    return served_app(model_file, "clf", FEATURES, ["no", "yes"], api_key_env="PAYLOADS_TEST_KEY")


# Every kind of path: real endpoints, other models and versions, unknown paths, wrong methods.
GUARDED = [
    ("GET", "/v2"),
    ("GET", "/v2/models/clf"),
    ("GET", "/v2/models/other"),
    ("GET", "/v2/models/clf/versions/9"),
    ("GET", "/v2/models/clf/ready"),
    ("POST", "/v2/models/other/infer"),
    ("POST", "/v2/models/clf/infer"),
    ("GET", "/v2/models/clf/infer"),
    ("POST", "/invocations"),
    ("GET", "/invocations"),
    ("GET", "/metrics"),
    ("GET", "/version"),
    ("GET", "/nothing/here"),
    ("DELETE", "/v2/models/clf"),
]


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_without_the_key_every_path_is_the_same_401(guarded, method, path):
    """A request without the key learns nothing: not the model's name, version or the paths."""
    for headers in ({}, {"authorization": "Bearer wrong"}):
        response = call(guarded, method, path, b"{}", {"content-type": "application/json", **headers})
        assert response.status == 401, (method, path, response.body)
        assert response.headers[b"www-authenticate"] == b"Bearer"
        error = response.json()["error"]
        assert "clf" not in error and "version" not in error and path not in error


def test_with_the_key_routing_answers_and_probes_stay_open(guarded):
    key = {"authorization": "Bearer s3cret"}
    assert call(guarded, "GET", "/v2/models/other", headers=key).status == 404
    assert call(guarded, "GET", "/v2/models/clf", headers=key).status == 200
    for path in ("/v2/health/live", "/v2/health/ready", "/ping", "/health"):  # documented as open
        assert call(guarded, "GET", path).status == 200, path


# --- v2 fields of the wrong type are 400s naming the field (issue #25) ---------------------------


def _infer(tensor_parameters=None, **top) -> dict:
    """A valid one-row request, with `parameters` on the tensor and `top` fields added."""
    tensor = {"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}
    if tensor_parameters is not None:
        tensor["parameters"] = tensor_parameters
    return {"inputs": [tensor], **top}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_infer(tensor_parameters=-1), "'parameters'"),
        (_infer(tensor_parameters="x"), "'parameters'"),
        (_infer(tensor_parameters=[]), "'parameters'"),
        (_infer(tensor_parameters=True), "'parameters'"),
        (_infer(tensor_parameters={"binary_data_size": "4"}), "binary_data_size"),
        (_infer(tensor_parameters={"binary_data_size": True}), "binary_data_size"),
        (_infer(id=5), "'id'"),
        (_infer(id=["a"]), "'id'"),
        (_infer(parameters=3), "'parameters'"),
        (_infer(parameters={"binary_data_output": "yes"}), "binary_data_output"),
        (_infer(outputs={"name": "label"}), "'outputs'"),
        (_infer(outputs=[{"name": 3}]), "outputs[0]"),
        (_infer(outputs=["label"]), "outputs[0]"),
        (_infer(outputs=[{"name": "label", "parameters": 1}]), "'parameters'"),
        (_infer(outputs=[{"name": "label", "parameters": {"binary_data": 1}}]), "binary_data"),
        ({"inputs": [{"name": ["X"]}]}, "'name'"),
        ({"inputs": [{"name": "X", "shape": "1,4", "datatype": "FP32", "data": [1, 2, 3, 4]}]}, "shape"),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": 1, "data": [1, 2, 3, 4]}]}, "datatype"),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": {"a": 1}}]}, "data"),
    ],
)
def test_v2_fields_of_the_wrong_type_are_400(named, body, field):
    response = post_json(named, "/v2/models/clf/infer", body)
    assert response.status == 400, response.body
    assert field in response.json()["error"]


def test_v2_id_and_parameters_of_the_right_type_still_work(named):
    body = _infer(
        tensor_parameters={"binary_data_size": None},
        id="abc",
        parameters={"binary_data_output": False},
        outputs=[{"name": "label", "parameters": {"binary_data": False}}],
    )
    response = post_json(named, "/v2/models/clf/infer", body)
    assert response.status == 200, response.body
    assert response.json()["id"] == "abc" and response.json()["outputs"][0]["data"] in (["no"], ["yes"])
