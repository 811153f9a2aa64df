"""`mlops serve` driven by the clients its users already have, each the peer's own code.

- NVIDIA's `tritonclient.http` and KServe's `InferenceRESTClient` (Open Inference Protocol v2):
  JSON and binary tensors, FP32, INT64 and BYTES, compressed requests and responses, their
  errors, against one server of two models.
- MLflow's `ScoringServerClient` (what MLflow's own tests call `mlflow models serve` with), on
  `/invocations`: every input form its `dump_input_data` writes.

Each client runs in its own virtualenv under `.venv-peers/` (built by `scripts/peers.sh` from
`.ci/run`; tritonclient brings gevent, which the project's venv never imports) through a script
in `tests/peers/` that prints what each call returned. Every answer must be onnxruntime's.
A peer missing is a skip, unless its variable in PEERS is 1 (CI sets them all).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_helpers import FEATURES, direct_run, training_data
from tests.serving_helpers import make_project, register_test_models, start_server

ROOT = Path(__file__).resolve().parents[2]
MIXED_FEEDS = {
    "city": np.array([["a"], ["c"], ["never-seen"]], dtype=object),
    "age": np.array([[0.5], [-1.0], [2.0]], dtype=np.float32),
    "count": np.array([[1], [4], [0]], dtype=np.int64),
}

# each peer: the script it runs (in tests/peers/) and the variable that makes its absence a failure
PEERS = {
    "tritonclient": ("triton_client.py", "MLOPS_REQUIRE_TRITONCLIENT"),
    "kserve": ("kserve_client.py", "MLOPS_REQUIRE_KSERVE"),
    "mlflow": ("mlflow_client.py", "MLOPS_REQUIRE_MLFLOW"),
}

pytestmark = pytest.mark.integration


def peer(name: str) -> Path:
    """The peer's interpreter; a skip when it is not built and not required."""
    python = ROOT / ".venv-peers" / name / "bin" / "python"
    if not python.exists():
        required = PEERS[name][1]
        if os.environ.get(required) == "1":
            pytest.fail(f"{required}=1 but {python} is missing (bash scripts/peers.sh {name})")
        pytest.skip(f"no {name} peer venv (bash scripts/peers.sh {name} builds it)")
    return python


def run_peer(name: str, *args: str) -> dict:
    run = subprocess.run(
        [str(peer(name)), str(ROOT / "tests" / "peers" / PEERS[name][0]), *args],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("peers") / "project")
    register_test_models(project)
    np.save(project / "rows.npy", training_data(7, seed=3)[0].astype(np.float32))
    return project


@pytest.fixture(scope="module")
def expected(project):
    """onnxruntime's own answers: (clf label, clf probabilities, mixed label, mixed probabilities)."""
    import onnxruntime as ort

    label, proba = direct_run(project / "logistic.onnx", np.load(project / "rows.npy"))
    session = ort.InferenceSession(str(project / "mixed.onnx"), providers=["CPUExecutionProvider"])
    mixed_label, mixed_proba = session.run(None, MIXED_FEEDS)
    return label, proba, mixed_label, mixed_proba


@pytest.fixture(scope="module")
def v2_reports(project):
    """One server of `clf` and `mixed`; what tritonclient and KServe's client got from it."""
    peer("tritonclient"), peer("kserve")  # skip before starting anything
    server = start_server(project, "clf", "mixed", log_name="v2-peers")
    try:
        rows = str(project / "rows.npy")
        return {
            "tritonclient": run_peer("tritonclient", server.url.removeprefix("http://"), rows),
            "kserve": run_peer("kserve", server.url, rows),
        }
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mlflow_report(project):
    """A server for each model (/invocations is a single-model endpoint); MLflow's client on both."""
    peer("mlflow")
    clf = start_server(project, "clf", log_name="mlflow-clf")
    mixed = start_server(project, "mixed", log_name="mlflow-mixed")
    try:
        ports = [s.url.rsplit(":", 1)[1] for s in (clf, mixed)]
        return run_peer("mlflow", *ports, str(project / "rows.npy"))
    finally:
        clf.stop()
        mixed.stop()


# --- the v2 protocol: tritonclient and KServe ------------------------------------------------------


@pytest.mark.parametrize("client", ["tritonclient", "kserve"])
def test_health_as_the_client_reads_it(v2_reports, client):
    got = v2_reports[client]
    assert (got["live"], got["ready"], got["model_ready"]) == (True, True, True)


def test_metadata_as_tritonclient_reads_it(v2_reports):
    got = v2_reports["tritonclient"]
    assert "binary_tensor_data" in got["server"]["extensions"] and got["server"]["version"]
    assert got["metadata"]["name"] == "clf"
    assert [(i["name"], i["datatype"], i["shape"]) for i in got["metadata"]["inputs"]] == [
        ("X", "FP32", [-1, 4])
    ]


@pytest.mark.parametrize(
    ("client", "form"),
    [("tritonclient", f) for f in ("json", "binary", "gzip", "deflate", "gzip_response")]
    + [("kserve", f) for f in ("json", "binary")],
)
def test_every_request_form_gets_onnxruntimes_answer(v2_reports, expected, client, form):
    label, proba, _, _ = expected
    answer = v2_reports[client]["clf"][form]
    assert answer["label"] == label.tolist()  # BYTES: "no" / "yes"
    np.testing.assert_allclose(np.array(answer["probabilities"]), proba, rtol=1e-6)
    if form == "json":  # the request id the client set comes back
        assert answer["id"] == {"tritonclient": "tc-1", "kserve": "ks-1"}[client]


def test_tritonclients_async_infer(v2_reports, expected):
    np.testing.assert_allclose(np.array(v2_reports["tritonclient"]["async"]), expected[1], rtol=1e-6)


@pytest.mark.parametrize(
    ("client", "form"), [(c, f) for c in ("tritonclient", "kserve") for f in ("json", "binary")]
)
def test_bytes_float_and_int64_inputs(v2_reports, expected, client, form):
    _, _, label, proba = expected
    answer = v2_reports[client]["mixed"][form]
    assert answer["label"] == label.tolist()
    np.testing.assert_allclose(np.array(answer["probabilities"]), proba, rtol=1e-6)


def test_every_answer_fits_kserves_own_data_model_of_the_protocol(v2_reports):
    """/v2, /v2/models, health, model metadata and ready, infer: each validated by the pydantic
    models KServe's server answers with (kserve.protocol.rest.v2_datamodels)."""
    assert v2_reports["kserve"]["schema_problems"] == {}


def test_errors_reach_tritonclient_with_their_status_and_words(v2_reports):
    errors = v2_reports["tritonclient"]["errors"]
    assert errors["shape"]["status"] == "400" and "shape" in errors["shape"]["message"]
    assert errors["datatype"]["status"] == "400" and "FP64" in errors["datatype"]["message"]
    assert errors["model"]["status"] == "404" and "nope" in errors["model"]["message"]
    assert errors["version"]["status"] == "404" and "99" in errors["version"]["message"]
    # Triton's classification extension is not served: refused, never answered with the raw tensor
    assert errors["classification"]["status"] == "400"
    assert "classification" in errors["classification"]["message"]


def test_errors_reach_kserves_client(v2_reports):
    errors = v2_reports["kserve"]["errors"]
    assert errors["shape"]["status"] == "400" and "shape" in errors["shape"]["message"]
    assert errors["unknown_model_ready"] is False


# --- MLflow's scoring protocol -------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dataframe", "shuffled_columns", "ndarray", "dict", "list", "params"])
def test_every_input_form_of_mlflows_client(mlflow_report, expected, form):
    label, proba, _, _ = expected
    got = mlflow_report["clf"][form]
    assert "error" not in got, got
    assert got["prediction"] == label.tolist()
    np.testing.assert_allclose(np.array([got["proba_no"], got["proba_yes"]]).T, proba, rtol=1e-6)


def test_mlflows_client_with_string_float_and_integer_columns(mlflow_report, expected):
    _, _, label, proba = expected
    got = mlflow_report["mixed"]
    assert got["prediction"] == label.tolist()
    np.testing.assert_allclose(np.array([got["proba_0"], got["proba_1"]]).T, proba, rtol=1e-6)


def test_mlflows_client_sees_our_errors(mlflow_report):
    errors = mlflow_report["errors"]
    assert "error code 400" in errors["missing_column"]["error"] and "f2" in errors["missing_column"]["error"]
    assert "error code 400" in errors["text"]["error"] and FEATURES[1] in errors["text"]["error"]
    assert mlflow_report["version"]  # GET /version answers, as MLflow's client waits for it
