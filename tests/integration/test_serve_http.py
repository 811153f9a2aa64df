"""`mlops serve` as a real process on 127.0.0.1, driven over HTTP: every endpoint, every error
code, auth, the body limit, concurrency, micro-batching, workers, SIGTERM and collection."""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import signal
import threading
import time
import zlib

import httpx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.onnx_helpers import direct_run, training_data
from tests.serving_helpers import (
    FEATURES,
    infer_body,
    make_project,
    register_test_models,
    start_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One project with the test models, and a server for `clf` collecting into `collected/`."""
    project = make_project(tmp_path_factory.mktemp("serve") / "project")
    register_test_models(project)
    server = start_server(project, "clf", "--collect", "collected", "--max-body-mb", "0.05")
    yield project, server
    server.stop()


@pytest.fixture
def client(served):
    _, server = served
    with server.client() as c:
        yield c


def _rows(n: int, seed: int = 1) -> np.ndarray:
    return training_data(n, seed=seed)[0]


def _expected(project, rows):
    return direct_run(project / "logistic.onnx", rows)


# --- the v2 protocol ---------------------------------------------------------------------------


def test_server_metadata_and_health(client):
    assert client.get("/v2").json()["name"] == "mlops"
    assert client.get("/v2/models").json() == {"models": ["clf"]}  # KServe's model list
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/clf/ready").json() == {"name": "clf", "ready": True}
    assert client.get("/v2/models/clf/versions/1/ready").status_code == 200


def test_model_metadata(client):
    for path in ("/v2/models/clf", "/v2/models/clf/versions/1"):
        meta = client.get(path).json()
        assert meta["name"] == "clf" and meta["versions"] == ["1"]
        assert meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
        assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
        assert {o["datatype"] for o in meta["outputs"]} == {"BYTES", "FP32"}


def test_infer_matches_onnxruntime(served, client):
    project, _ = served
    rows = _rows(5)
    response = client.post("/v2/models/clf/infer", json={**infer_body(rows), "id": "abc"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "clf" and body["model_version"] == "1" and body["id"] == "abc"
    outputs = {o["name"]: o for o in body["outputs"]}
    label, proba = _expected(project, rows)
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["shape"] == [5]
    assert outputs["label"]["data"] == label.tolist()
    assert outputs["probabilities"]["shape"] == [5, 2]
    np.testing.assert_allclose(np.array(outputs["probabilities"]["data"]).reshape(5, 2), proba, rtol=1e-6)


def test_infer_accepts_nested_data_versions_path_and_requested_outputs(client):
    rows = _rows(2)
    body = {
        "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": rows.tolist()}],
        "outputs": [{"name": "probabilities"}],
    }
    response = client.post("/v2/models/clf/versions/1/infer", json=body)
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["probabilities"]


def test_infer_mixed_datatypes(served):
    project, _ = served
    from tests.serving_helpers import start_server

    server = start_server(project, "mixed", log_name="mixed")
    try:
        with server.client() as c:
            meta = c.get("/v2/models/mixed").json()
            assert [(i["name"], i["datatype"]) for i in meta["inputs"]] == [
                ("city", "BYTES"),
                ("age", "FP32"),
                ("count", "INT64"),
            ]
            body = {
                "inputs": [
                    {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "c"]},
                    {"name": "age", "shape": [2, 1], "datatype": "FP32", "data": [0.5, -1.0]},
                    {"name": "count", "shape": [2, 1], "datatype": "INT64", "data": [1, 3]},
                ]
            }
            response = c.post("/v2/models/mixed/infer", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["outputs"][0]["shape"] == [2]
            records = {
                "dataframe_records": [
                    {"city": "a", "age": 0.5, "count": 1},
                    {"city": "c", "age": -1.0, "count": 3},
                ]
            }
            predictions = c.post("/invocations", json=records).json()["predictions"]
            assert [p["prediction"] for p in predictions] == response.json()["outputs"][0]["data"]
            bad = c.post("/invocations", json={"dataframe_records": [{"city": 3, "age": 0.5, "count": 1}]})
            assert bad.status_code == 400 and "city" in bad.json()["error"]
    finally:
        server.stop()


def test_infer_binary_tensor_extension(served, client):
    """Triton's binary data: tritonclient sends inputs (and asks for outputs) this way."""
    project, _ = served
    rows = _rows(3)
    header = json.dumps(
        {
            "inputs": [
                {"name": "X", "shape": [3, 4], "datatype": "FP32", "parameters": {"binary_data_size": 48}}
            ],
            "outputs": [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    response = client.post(
        "/v2/models/clf/infer",
        content=header + rows.astype("<f4").tobytes(),
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    split = int(response.headers["inference-header-content-length"])
    head = json.loads(response.content[:split])
    label, proba = _expected(project, rows)
    assert head["outputs"][0]["data"] == label.tolist()
    assert head["outputs"][1]["parameters"] == {"binary_data_size": 24}
    np.testing.assert_allclose(np.frombuffer(response.content[split:], "<f4").reshape(3, 2), proba, rtol=1e-6)
    short = client.post(
        "/v2/models/clf/infer",
        content=header + b"\0" * 10,
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(header)),
        },
    )
    assert short.status_code == 400 and "binary_data_size" in short.json()["error"]
    assert "binary_tensor_data" in client.get("/v2").json()["extensions"]


# --- compressed bodies ---------------------------------------------------------------------------


def _compress(data: bytes, coding: str) -> bytes:
    """`data` as a client sends it with this Content-Encoding (tritonclient: gzip.compress and
    zlib.compress; "raw" is deflate without zlib's wrapper, as some clients send it)."""
    if coding == "raw":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    for one in [c.strip() for c in coding.split(",")]:  # applied in the order listed
        data = gzip.compress(data) if one == "gzip" else zlib.compress(data)
    return data


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw", "deflate, gzip"])
def test_compressed_bodies_are_read_on_every_scoring_route(served, client, coding):
    project, _ = served
    rows = _rows(5)
    label, proba = _expected(project, rows)
    header = {"content-encoding": "deflate" if coding == "raw" else coding}
    infer = client.post(
        "/v2/models/clf/infer",
        content=_compress(json.dumps(infer_body(rows)).encode(), coding),
        headers={**header, "content-type": "application/json"},
    )
    assert infer.status_code == 200, infer.text
    assert infer.json()["outputs"][0]["data"] == label.tolist()
    head = json.dumps(
        {
            "inputs": [
                {"name": "X", "shape": [5, 4], "datatype": "FP32", "parameters": {"binary_data_size": 80}}
            ]
        }
    )
    binary = client.post(
        "/v2/models/clf/infer",
        content=_compress(head.encode() + rows.astype("<f4").tobytes(), coding),
        headers={
            **header,
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(len(head)),
        },
    )
    assert binary.status_code == 200, binary.text
    np.testing.assert_allclose(binary.json()["outputs"][1]["data"], proba.ravel(), rtol=1e-6)
    text = ",".join(FEATURES) + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
    table = pd.DataFrame(rows, columns=FEATURES)
    for content, kind in (
        (text.encode(), "text/csv"),
        (table.to_json(orient="split").encode(), "application/json"),
    ):
        if kind == "application/json":
            content = json.dumps({"dataframe_split": json.loads(content)}).encode()
        answer = client.post(
            "/invocations", content=_compress(content, coding), headers={**header, "content-type": kind}
        )
        assert answer.status_code == 200, answer.text
        assert [p["prediction"] for p in answer.json()["predictions"]] == label.tolist()


def test_compressed_bodies_that_cannot_be_read(client):
    """The server's limit (0.05 MB here) holds for the inflated bytes too: 5 MB of spaces, 5 KB
    gzipped, is a 413 before they are all inflated."""
    body = json.dumps(infer_body(_rows(1))).encode()
    cases = [
        ({"content-encoding": "br"}, body, 415, "unsupported Content-Encoding 'br'"),
        ({"content-encoding": "gzip"}, body, 400, "not valid gzip"),
        ({"content-encoding": "gzip"}, gzip.compress(body)[:-12], 400, "ends before"),
        ({"content-encoding": "deflate"}, zlib.compress(body) + b"{}", 400, "bytes after"),
        ({"content-encoding": "gzip"}, gzip.compress(b" " * 5_000_000), 413, "once decompressed"),
    ]
    for headers, content, status, words in cases:
        answer = client.post("/v2/models/clf/infer", content=content, headers=headers)
        assert (answer.status_code, words in answer.json()["error"]) == (status, True), answer.text
    mlflow = client.post(
        "/invocations", content=b"x", headers={"content-encoding": "br", "content-type": "text/csv"}
    )
    assert mlflow.status_code == 415 and mlflow.json()["error_code"] == "BAD_REQUEST"
    assert client.get("/v2/health/ready").json() == {"ready": True}


# --- MLflow-style --------------------------------------------------------------------------------


def test_invocations_formats_agree(served, client):
    project, _ = served
    rows = _rows(3)
    label, proba = _expected(project, rows)
    shuffled = FEATURES[::-1]
    payloads = [
        {"dataframe_split": {"columns": FEATURES, "data": rows.tolist()}},
        {"dataframe_split": {"columns": shuffled, "data": rows[:, ::-1].tolist()}},
        {"dataframe_records": [dict(zip(FEATURES, r, strict=True)) for r in rows.tolist()]},
        {"instances": rows.tolist()},
        {"instances": [dict(zip(FEATURES, r, strict=True)) for r in rows.tolist()]},
        {"inputs": {name: rows[:, j].tolist() for j, name in enumerate(FEATURES)}},
        {"inputs": rows.tolist()},
    ]
    for payload in payloads:
        response = client.post("/invocations", json=payload)
        assert response.status_code == 200, (payload, response.text)
        predictions = response.json()["predictions"]
        assert [p["prediction"] for p in predictions] == label.tolist()
        np.testing.assert_allclose([p["proba_yes"] for p in predictions], proba[:, 1], rtol=1e-6)
    assert client.get("/ping").status_code == 200


# --- MLflow's scoring protocol, as its documentation and scoring_server show it ------------------


def test_mlflow_payload_forms_and_content_types_agree(served, client):
    """The request forms of MLflow's docs (`mlflow models serve`), JSON and CSV, give one answer."""
    project, _ = served
    rows = _rows(3)
    label, proba = _expected(project, rows)
    as_json = [
        {"dataframe_split": {"columns": FEATURES, "data": rows.tolist()}},
        {"dataframe_split": {"index": [0, 1, 2], "columns": FEATURES, "data": rows.tolist()}},
        {"dataframe_records": [dict(zip(FEATURES, r, strict=True)) for r in rows.tolist()]},
        {"instances": rows.tolist()},
        {"inputs": rows.tolist()},
        {"inputs": {name: rows[:, j].tolist() for j, name in enumerate(FEATURES)}},
        {"dataframe_split": {"columns": FEATURES, "data": rows.tolist()}, "params": {"unused": 1}},
    ]
    # pandas.DataFrame.to_csv() writes the index as a first, unnamed column; MLflow reads it back.
    with_index = (
        ",".join(["", *FEATURES])
        + "\n"
        + "".join(",".join([str(i), *map(repr, r)]) + "\n" for i, r in enumerate(rows.tolist()))
    )
    plain = ",".join(FEATURES) + "\r\n" + "".join(",".join(map(repr, r)) + "\r\n" for r in rows.tolist())
    requests = [(json.dumps(p).encode(), "application/json") for p in as_json]
    requests += [
        (json.dumps(as_json[0]).encode(), "application/json;"),  # as MLflow's own curl example
        (json.dumps(as_json[0]).encode(), "Application/JSON; charset=UTF-8"),
        (with_index.encode(), "text/csv"),
        (plain.encode(), "text/csv; charset=utf-8"),
    ]
    for body, content_type in requests:
        response = client.post("/invocations", content=body, headers={"content-type": content_type})
        assert response.status_code == 200, (content_type, body[:80], response.text)
        assert response.headers["content-type"] == "application/json"
        predictions = response.json()["predictions"]
        assert [p["prediction"] for p in predictions] == label.tolist()
        np.testing.assert_allclose([p["proba_yes"] for p in predictions], proba[:, 1], rtol=1e-6)


def test_mlflow_content_type_rules_and_error_shape(client):
    body = json.dumps({"inputs": _rows(1).tolist()}).encode()
    for headers, words in [
        ({}, "no Content-Type"),
        ({"content-type": "text/plain"}, "unsupported content type 'text/plain'"),
        ({"content-type": "application/json; format=pandas-split"}, "format"),
        ({"content-type": "application/json; charset=latin-1"}, "charset"),
    ]:
        response = client.post("/invocations", content=body, headers=headers)
        assert response.status_code == 415, (headers, response.text)
        error = response.json()
        assert words in error["error"] and error["message"] == error["error"]
        assert error["error_code"] == "BAD_REQUEST"
    bad_csv = client.post(
        "/invocations", content=b"f0,f1,f2,f3\n1,2,x,4\n", headers={"content-type": "text/csv"}
    )
    assert bad_csv.status_code == 400
    assert bad_csv.json()["error"] == "column 'f2', row 1: 'x' is not a number"
    assert bad_csv.json()["error_code"] == "BAD_REQUEST"
    header_only = client.post("/invocations", content=b"f0,f1,f2,f3\n", headers={"content-type": "text/csv"})
    assert header_only.status_code == 400 and "no rows" in header_only.json()["error"]
    # The v2 protocol sets no Content-Type rule and tritonclient sends none: JSON is assumed.
    infer = client.post("/v2/models/clf/infer", content=json.dumps(infer_body(_rows(2))).encode())
    assert "content-type" not in infer.request.headers
    assert infer.status_code == 200, infer.text


def test_mlflow_health_and_version(client):
    from mlops_cli import __version__

    for path in ("/ping", "/health"):
        assert client.get(path).status_code == 200
    version = client.get("/version")
    assert version.status_code == 200 and version.text == __version__
    assert version.headers["content-type"].startswith("text/plain")
    assert client.post("/health").status_code == 405


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"inputs": [{"name": "X", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}, "shape"),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}, "datatype"),
        (
            {"inputs": [{"name": "Y", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
            "unknown input",
        ),
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}, "needs 8"),
        (
            {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": ["a", "b", "c", "d"]}]},
            "FP32",
        ),
        ({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32"}]}, "data"),
        (
            {
                "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
                "outputs": [{"name": "nope"}],
            },
            "unknown output",
        ),
        ([1, 2], "object"),
    ],
)
def test_infer_bad_requests_are_400_naming_the_problem(client, body, words):
    response = client.post("/v2/models/clf/infer", json=body)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_missing_input_is_400(served):
    project, _ = served
    # The mixed model has three inputs; give two.
    from tests.serving_helpers import start_server

    server = start_server(project, "mixed", log_name="mixed-missing")
    try:
        body = {"inputs": [{"name": "age", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}]}
        response = httpx.post(server.url + "/v2/models/mixed/infer", json=body)
        assert response.status_code == 400
        assert "missing input" in response.json()["error"] and "city" in response.json()["error"]
    finally:
        server.stop()


def test_other_error_codes(client):
    assert (
        client.post(
            "/v2/models/clf/infer", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.post("/invocations", json={"nothing": 1}).status_code == 400
    assert (
        client.post(
            "/invocations", json={"dataframe_split": {"columns": ["f0"], "data": [[1.0]]}}
        ).status_code
        == 400
    )
    wrong_type = client.post("/invocations", content=b"a,b\n1,2", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415 and "content type" in wrong_type.json()["error"]
    assert client.get("/v2/models/other").status_code == 404
    assert client.post("/v2/models/other/infer", json=infer_body(_rows(1))).status_code == 404
    assert client.get("/v2/models/clf/versions/7").status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get("/v2/models/clf/infer").status_code == 405
    for response in (client.get("/nowhere"), client.get("/v2/models/other")):
        assert set(response.json()) == {"error"}


def test_unexpected_failure_is_500_without_traceback(served):
    project, _ = served
    server = start_server(project, "failing", log_name="failing")
    try:
        body = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        response = httpx.post(server.url + "/v2/models/failing/infer", json=body)
        assert response.status_code == 500
        error = response.json()["error"]
        assert response.headers["x-request-id"] in error
        assert "Traceback" not in response.text and "onnxruntime" not in response.text
        assert httpx.get(server.url + "/v2/health/ready").status_code == 200  # still serving
    finally:
        server.stop()
    assert "Traceback" in server.log.read_text()


def test_body_over_the_limit_is_413(client):
    big = infer_body(np.zeros((8000, 4), dtype=np.float32))
    response = client.post("/v2/models/clf/infer", json=big)
    assert response.status_code == 413 and "limit" in response.json()["error"]

    # A chunked body (no Content-Length) is cut off as it is read.
    def chunks():
        yield b'{"inputs": ['
        for _ in range(200):
            yield b" " * 1000
        yield b"]}"

    response = client.post("/invocations", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert client.get("/v2/health/live").status_code == 200  # still serving


def test_concurrent_requests_get_their_own_answers(served):
    project, server = served
    rows = _rows(64, seed=9)
    label, _ = _expected(project, rows)

    def one(i: int):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            response = c.post("/v2/models/clf/infer", json=infer_body(rows[i : i + 1]))
            return i, response.status_code, response.json()["outputs"][0]["data"][0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(64)))
    assert all(status == 200 for _, status, _ in results)
    assert [value for _, _, value in sorted(results)] == label.tolist()


def test_metrics_report_requests_rows_and_collection(client):
    client.post("/v2/models/clf/infer", json=infer_body(_rows(3)))
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert 'mlops_requests_total{endpoint="infer",status="200"}' in text
    assert 'mlops_requests_total{endpoint="other",status="404"}' in text
    assert "mlops_request_duration_seconds_bucket" in text
    assert 'mlops_rows_scored_total{model="clf",version="1"}' in text
    assert "mlops_batch_size_bucket" in text
    assert "mlops_collected_records_total" in text and "mlops_dropped_records_total 0" in text


# --- auth, workers, batching, SIGTERM --------------------------------------------------------------


def test_api_key_and_workers(served):
    project, _ = served
    server = start_server(
        project,
        "clf",
        "--api-key-env",
        "SERVE_KEY",
        "--workers",
        "2",
        env={"SERVE_KEY": "s3cret"},
        log_name="auth",
    )
    try:
        body = infer_body(_rows(1))
        url = server.url + "/v2/models/clf/infer"
        missing = httpx.post(url, json=body)
        assert missing.status_code == 401 and "Authorization" in missing.json()["error"]
        assert missing.headers["www-authenticate"] == "Bearer"
        assert httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.post(url, json=body, headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert httpx.get(server.url + "/metrics").status_code == 401
        # Authenticated before routing: another model's path is a 401 too, not a 404 naming ours.
        other = httpx.get(server.url + "/v2/models/x")
        assert other.status_code == 401 and "clf" not in other.text
        assert httpx.post(url, json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # Probes stay open so orchestrators can check health without the key.
        assert httpx.get(server.url + "/v2/health/ready").status_code == 200
        assert httpx.get(server.url + "/ping").status_code == 200
    finally:
        assert server.stop() == 0


def _families(text: str) -> dict:
    """The exposition text as Prometheus' own parser reads it: {name: family}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_as_prometheus_reads_them(client):
    """Types, label sets and histogram invariants, through prometheus_client's parser."""
    client.post("/v2/models/clf/infer", json=infer_body(_rows(4)))
    families = _families(client.get("/metrics").text)
    assert families["mlops_requests"].type == "counter"
    assert families["mlops_rows_scored"].type == "counter"
    for name in ("mlops_request_duration_seconds", "mlops_batch_size"):
        family = families[name]
        assert family.type == "histogram"
        series: dict = {}
        for sample in family.samples:
            key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            series.setdefault(key, []).append(sample)
        assert series
        for samples in series.values():
            buckets = [s for s in samples if s.name.endswith("_bucket")]
            values = [s.value for s in buckets]
            assert values == sorted(values) and buckets[-1].labels["le"] == "+Inf"
            count = next(s.value for s in samples if s.name.endswith("_count"))
            assert count == values[-1] and next(s.value for s in samples if s.name.endswith("_sum")) >= 0
    scored = families["mlops_rows_scored"].samples[0]
    assert scored.labels == {"model": "clf", "version": "1"} and scored.value >= 4


def _infer_total(text: str) -> float:
    """mlops_requests_total{endpoint="infer",status="200"}, as Prometheus reads it (0 when absent)."""
    samples = _families(text)["mlops_requests"].samples
    return next((s.value for s in samples if s.labels == {"endpoint": "infer", "status": "200"}), 0)


def test_metrics_of_several_workers_add_up(served, tmp_path):
    """A scrape reaches any one worker; each answers for all of them, and totals never fall, even
    after a worker is killed. Before, each answered with its own counts only: a Prometheus
    scraping it saw counters fall and rise, and read every fall as a restart."""
    import psutil

    project, _ = served
    folder = tmp_path / "tmp"
    folder.mkdir()
    server = start_server(project, "clf", "--workers", "3", env={"TMPDIR": str(folder)}, log_name="workers")
    try:
        body = infer_body(_rows(2))
        for _ in range(60):  # a new connection each: the kernel hands them to every worker
            assert httpx.post(server.url + "/v2/models/clf/infer", json=body).status_code == 200
        time.sleep(1.5)  # every worker has written its figures since
        [shared] = list(folder.iterdir())
        assert shared.stat().st_mode & 0o777 == 0o700
        scrapes = [httpx.get(server.url + "/metrics").text for _ in range(12)]
        assert {_infer_total(text) for text in scrapes} == {60}
        assert all('mlops_rows_scored_total{model="clf",version="1"} 120' in text for text in scrapes)
        workers = psutil.Process(server.process.pid).children(recursive=True)
        assert len(workers) >= 3
        workers[0].kill()
        time.sleep(1.5)
        assert {_infer_total(httpx.get(server.url + "/metrics").text) for _ in range(12)} == {60}
    finally:
        assert server.stop() == 0
    assert list(folder.iterdir()) == []  # the parent removed the shared folder


def test_a_server_of_several_models_tells_nothing_without_the_key(served):
    """As a single-model server: without the key every path but the health probes is a 401,
    including /v2 and the 404s that would name the models. It once listed them to anyone."""
    project, _ = served
    server = start_server(
        project,
        "clf",
        "mixed",
        "--api-key-env",
        "SERVE_KEY",
        env={"SERVE_KEY": "s3cret"},
        log_name="multi-auth",
    )
    try:
        for path in (
            "/v2",
            "/v2/models",
            "/v2/models/clf",
            "/v2/models/nope/infer",
            "/invocations",
            "/metrics",
        ):
            refused = httpx.get(server.url + path)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", path
            assert "clf" not in refused.text and "mixed" not in refused.text
        assert httpx.get(server.url + "/v2/health/ready").status_code == 200
        key = {"Authorization": "Bearer s3cret"}
        assert httpx.get(server.url + "/v2/models", headers=key).json() == {"models": ["clf", "mixed"]}
        assert (
            httpx.post(
                server.url + "/v2/models/clf/infer", json=infer_body(_rows(1)), headers=key
            ).status_code
            == 200
        )
    finally:
        assert server.stop() == 0


def test_micro_batching_keeps_answers_apart(served):
    project, _ = served
    server = start_server(
        project, "clf", "--batch-max-size", "16", "--batch-max-latency-ms", "5", log_name="batch"
    )
    rows = _rows(96, seed=4)
    label, proba = _expected(project, rows)

    def one(i: int):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            size = 1 + i % 3
            part = rows[i : i + size]
            response = c.post("/v2/models/clf/infer", json=infer_body(part))
            outputs = {o["name"]: o for o in response.json()["outputs"]}
            return i, size, outputs["label"]["data"], outputs["probabilities"]["data"]

    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(90)))
        for i, size, labels, probas in results:
            assert labels == label[i : i + size].tolist()
            np.testing.assert_allclose(np.array(probas).reshape(size, 2), proba[i : i + size], atol=1e-6)
        metrics = httpx.get(server.url + "/metrics").text
        assert "mlops_batch_size_count" in metrics
    finally:
        assert server.stop() == 0


def test_sigterm_drains_and_flushes_collection(served):
    project, _ = served
    collect = project / "collected-sigterm"
    server = start_server(project, "clf", "--collect", str(collect), log_name="sigterm")
    rows = _rows(4, seed=5)
    ok_ids: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not stop.is_set():
                try:
                    response = c.post("/v2/models/clf/infer", json=infer_body(rows))
                except httpx.TransportError:
                    return  # the server stopped accepting
                assert response.status_code == 200, response.text  # never a half-served request
                with lock:
                    ok_ids.append(response.json()["id"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    while len(ok_ids) < 100:
        threading.Event().wait(0.01)
    code = server.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(30)
    assert code == 0, server.log.read_text()
    files = sorted(collect.glob("*.parquet"))
    assert files and not list(collect.glob(".*.tmp"))
    table = pq.read_table(files).to_pandas() if len(files) == 1 else _read_all(files)
    assert set(ok_ids) <= set(table["request_id"])
    assert len(table) == 4 * len(set(table["request_id"]))


def _read_all(files):
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()


def test_collection_files_are_complete_rows(served):
    project, server = served
    rows = _rows(3, seed=6)
    with server.client() as c:
        first = c.post("/v2/models/clf/infer", json=infer_body(rows)).json()["id"]
        second = c.post(
            "/invocations", json={"dataframe_split": {"columns": FEATURES, "data": rows.tolist()}}
        ).headers["x-request-id"]
    server.stop()
    try:
        files = sorted((project / "collected").glob("*.parquet"))
        table = _read_all(files)
        mine = table[table.request_id.isin([first, second])]
        assert len(mine) == 6
        assert set(mine.endpoint) == {"infer", "invocations"}
        assert {
            *FEATURES,
            "prediction",
            "proba_no",
            "proba_yes",
            "ts",
            "row",
            "model",
            "model_version",
        } <= set(table.columns)
        np.testing.assert_allclose(mine[mine.request_id == first][FEATURES].to_numpy(), rows, rtol=1e-6)
        assert mine.model.unique().tolist() == ["clf"]
    finally:
        pass
