"""`mlops serve` driven by NVIDIA's tritonclient itself, the client Triton and KServe users have.

tritonclient runs in its own virtualenv (`.venv-peers/tritonclient`, built by
`scripts/peer-tritonclient.sh` from `.ci/run`: it brings gevent, which the project's venv never
imports) through `tests/peers/triton_client.py`, which prints what each call returned. Every
answer, in JSON and in the binary extension, with a compressed request or response, for FP32,
BYTES and INT64 tensors, must be onnxruntime's; its errors must reach the client as such.
Skipped only when the peer is missing and MLOPS_REQUIRE_TRITONCLIENT is not 1 (CI sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_helpers import direct_run, training_data
from tests.serving_helpers import make_project, register_test_models, start_server

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / ".venv-peers" / "tritonclient" / "bin" / "python"
SCRIPT = ROOT / "tests" / "peers" / "triton_client.py"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PEER.exists() and os.environ.get("MLOPS_REQUIRE_TRITONCLIENT") != "1",
        reason="no tritonclient peer venv (bash scripts/peer-tritonclient.sh builds it)",
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One server for `clf` and `mixed`, one run of the peer against it."""
    project = make_project(tmp_path_factory.mktemp("triton") / "project")
    register_test_models(project)
    rows = training_data(7, seed=3)[0].astype(np.float32)
    np.save(project / "rows.npy", rows)
    server = start_server(project, "clf", "mixed")
    try:
        run = subprocess.run(
            [str(PEER), str(SCRIPT), server.url.removeprefix("http://"), str(project / "rows.npy")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.stop()
    assert run.returncode == 0, run.stderr
    return project, rows, json.loads(run.stdout)


def test_health_and_metadata_as_tritonclient_reads_them(report):
    _, _, got = report
    assert (got["live"], got["ready"], got["model_ready"]) == (True, True, True)
    assert "binary_tensor_data" in got["server"]["extensions"]
    assert got["metadata"]["name"] == "clf"
    assert [(i["name"], i["datatype"], i["shape"]) for i in got["metadata"]["inputs"]] == [
        ("X", "FP32", [-1, 4])
    ]


@pytest.mark.parametrize("form", ["json", "binary", "gzip", "deflate", "gzip_response"])
def test_every_request_form_gets_onnxruntimes_answer(report, form):
    project, rows, got = report
    label, proba = direct_run(project / "logistic.onnx", rows)
    answer = got["clf"][form]
    assert answer["label"] == label.tolist()  # BYTES: "no" / "yes"
    np.testing.assert_allclose(np.array(answer["probabilities"]), proba, rtol=1e-6)
    if form == "json":
        assert answer["id"] == "tc-1"  # the request id tritonclient set comes back
    np.testing.assert_allclose(np.array(got["async"]), proba, rtol=1e-6)


@pytest.mark.parametrize("form", ["json", "binary"])
def test_bytes_float_and_int64_inputs(report, form):
    import onnxruntime as ort

    project, _, got = report
    session = ort.InferenceSession(str(project / "mixed.onnx"), providers=["CPUExecutionProvider"])
    feeds = {
        "city": np.array([["a"], ["c"], ["never-seen"]], dtype=object),
        "age": np.array([[0.5], [-1.0], [2.0]], dtype=np.float32),
        "count": np.array([[1], [4], [0]], dtype=np.int64),
    }
    label, proba = session.run(None, feeds)
    assert got["mixed"][form]["label"] == label.tolist()
    np.testing.assert_allclose(np.array(got["mixed"][form]["probabilities"]), proba, rtol=1e-6)


def test_errors_reach_the_client_with_their_status_and_words(report):
    _, _, got = report
    errors = got["errors"]
    assert errors["shape"]["status"] == "400" and "shape" in errors["shape"]["message"]
    assert errors["datatype"]["status"] == "400" and "FP64" in errors["datatype"]["message"]
    assert errors["model"]["status"] == "404" and "nope" in errors["model"]["message"]
    assert errors["version"]["status"] == "404" and "99" in errors["version"]["message"]
    # Triton's classification extension is not served: refused, never answered with the raw tensor
    assert errors["classification"]["status"] == "400"
    assert "classification" in errors["classification"]["message"]
