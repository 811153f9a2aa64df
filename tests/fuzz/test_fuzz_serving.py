"""Property: any request to the scoring app gets a success or a 4xx with a JSON error naming the
problem, never a 5xx. Requests start as valid v2 (JSON and binary extension) and MLflow
(`/invocations` JSON forms and CSV) bodies for three models (named features, unnamed features,
one input per column with string, float and int64 types) and are then mutated."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.asgi_helpers import call, served_app
from tests.fuzz.strategies import budget, mutated, mutated_bytes
from tests.onnx_helpers import FEATURES, logistic_onnx
from tests.serving_helpers import mixed_onnx

ROWS = [[0.1, -0.2, 0.3, 1.5], [2.0, 0.0, -1.0, 0.25]]
MIXED = [{"city": "a", "age": 0.5, "count": 1}, {"city": "c", "age": -1.0, "count": 3}]


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-serving")
    logistic = logistic_onnx(folder, labels=["no", "yes"])
    return {
        "clf": served_app(logistic, "clf", FEATURES, ["no", "yes"], max_body_mb=0.05),
        "plain": served_app(logistic, "plain", None, max_body_mb=0.05),
        "mixed": served_app(mixed_onnx(folder), "mixed", None, max_body_mb=0.05),
    }


def _v2(model: str) -> dict:
    if model == "mixed":
        return {
            "id": "r1",
            "inputs": [
                {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "c"]},
                {"name": "age", "shape": [2, 1], "datatype": "FP32", "data": [0.5, -1.0]},
                {"name": "count", "shape": [2, 1], "datatype": "INT64", "data": [1, 3]},
            ],
            "outputs": [{"name": "label", "parameters": {"binary_data": False}}],
        }
    return {
        "id": "r1",
        "parameters": {"binary_data_output": False},
        "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": ROWS, "parameters": {}}],
        "outputs": [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": True}}],
    }


def _forms(model: str) -> list:
    if model == "mixed":
        columns = list(MIXED[0])
        rows = [list(r.values()) for r in MIXED]
        return [
            {"dataframe_split": {"columns": columns, "data": rows}},
            {"dataframe_records": MIXED},
            {"instances": MIXED},
            {"inputs": {c: [r[c] for r in MIXED] for c in columns}},
        ]
    columns = FEATURES if model == "clf" else ["a", "b", "c", "d"]
    return [
        {"dataframe_split": {"index": [0, 1], "columns": columns, "data": ROWS}},
        {"dataframe_records": [dict(zip(columns, r, strict=True)) for r in ROWS]},
        {"instances": ROWS},
        {"inputs": ROWS, "params": {"x": 1}},
        {"inputs": {c: [r[j] for r in ROWS] for j, c in enumerate(columns)}},
    ]


def _csv(model: str) -> bytes:
    if model == "mixed":
        return b"city,age,count\na,0.5,1\nc,-1.0,3\n"
    columns = FEATURES if model == "clf" else ["a", "b", "c", "d"]
    lines = [",".join(["", *columns])] + [",".join([str(i), *map(repr, r)]) for i, r in enumerate(ROWS)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _holds(response, what) -> None:
    """The property: a success, or a 4xx whose body is a JSON object with an `error` string."""
    assert response.status < 500, (what, response.status, response.body[:300])
    if response.status >= 400:
        error = json.loads(response.body)
        assert isinstance(error.get("error"), str) and error["error"], (what, response.body[:300])


MODELS = st.sampled_from(["clf", "plain", "mixed"])


@budget(250)
@given(data=st.data(), model=MODELS)
@example(data=None, model="clf")  # a tensor's `parameters` that is not an object (issue #25)
def test_v2_json_requests(apps, data, model):
    if data is None:
        body = _v2(model)
        for bad in (-1, "x", [], True):
            body["inputs"][0]["parameters"] = bad
            response = call(apps[model], "POST", f"/v2/models/{model}/infer", json.dumps(body).encode())
            _holds(response, body)
            assert response.status == 400 and "parameters" in response.json()["error"]
        return
    body = data.draw(mutated(_v2(model), max_mutations=4))
    path = data.draw(st.sampled_from([f"/v2/models/{model}/infer", f"/v2/models/{model}/versions/1/infer"]))
    _holds(call(apps[model], "POST", path, json.dumps(body).encode()), body)


@budget(150)
@given(data=st.data(), model=MODELS)
def test_v2_binary_requests(apps, data, model):
    """The binary extension: a JSON header, then raw tensor bytes the header's sizes point into."""
    if model == "mixed":
        raws = [
            b"".join(len(s).to_bytes(4, "little") + s for s in (b"a", b"c")),
            np.array([0.5, -1.0], "<f4").tobytes(),
            np.array([1, 3], "<i8").tobytes(),
        ]
    else:
        raws = [np.array(ROWS, "<f4").tobytes()]
    valid = _v2(model)
    for tensor, raw in zip(valid["inputs"], raws, strict=True):
        tensor.pop("data")
        tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(data.draw(mutated(valid, max_mutations=3))).encode()
    binary = data.draw(mutated_bytes(b"".join(raws)))
    length = data.draw(st.sampled_from([len(header)] * 4 + [len(header) - 1, len(header) + 3, 0]))
    split = data.draw(st.sampled_from([str(length).encode()] * 5 + [b"-1", b"x", b"", b"1e3", b"99999999"]))
    headers = [(b"content-type", b"application/octet-stream"), (b"inference-header-content-length", split)]
    _holds(call(apps[model], "POST", f"/v2/models/{model}/infer", header + binary, headers), header)


@budget(150)
@given(data=st.data(), model=MODELS)
def test_v2_raw_bytes_and_headers(apps, data, model):
    """Byte-level damage to a valid body, under assorted Content-Type and Content-Length headers."""
    body = data.draw(mutated_bytes(json.dumps(_v2(model)).encode()))
    content_type = data.draw(
        st.sampled_from([None, b"application/json", b"application/json; charset=latin-1", b"text/csv", b";"])
    )
    headers = [(b"content-type", content_type)] if content_type is not None else []
    if data.draw(st.booleans()):
        headers.append((b"content-length", data.draw(st.sampled_from([b"0", b"x", b"99999999", b"-5"]))))
    chunk = data.draw(st.sampled_from([None, 1, 7]))
    _holds(call(apps[model], "POST", f"/v2/models/{model}/infer", body, headers, chunk=chunk), body)


@budget(250)
@given(data=st.data(), model=MODELS)
def test_invocations_json_forms(apps, data, model):
    body = data.draw(mutated(data.draw(st.sampled_from(_forms(model))), max_mutations=4))
    headers = {"content-type": "application/json"}
    _holds(call(apps[model], "POST", "/invocations", json.dumps(body).encode(), headers), body)


@budget(150)
@given(data=st.data(), model=MODELS)
def test_invocations_csv(apps, data, model):
    body = data.draw(mutated_bytes(_csv(model)))
    content_type = data.draw(
        st.sampled_from(["text/csv", "text/csv; charset=utf-8", "TEXT/CSV;charset=UTF8"])
    )
    _holds(call(apps[model], "POST", "/invocations", body, {"content-type": content_type}), body)
