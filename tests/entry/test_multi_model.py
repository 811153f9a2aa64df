"""`mlops serve REF REF ...`: several versions in one server, each its own model under
/v2/models/NAME[/versions/N], /invocations only for a single-model server."""

from __future__ import annotations

import numpy as np
import pytest

from tests.deploy_helpers import mlops
from tests.entry import scripts
from tests.onnx_helpers import direct_run, logistic_onnx, regressor_onnx
from tests.serving_helpers import make_project, start_server


@pytest.fixture(scope="module")
def multi_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("multi") / "project")
    mlops(project, "register", logistic_onnx(project), "--name", "churn")
    mlops(project, "register", regressor_onnx(project), "--name", "churn")  # churn:2, another graph
    scripts.azure_ensemble(project)
    return project


def test_each_version_is_its_own_model(multi_project):
    rows = np.array([[1, 2, 3, 4], [0.5, -1, 2, 0]], dtype=np.float32)
    body = {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": rows.ravel().tolist()}]}
    logistic = direct_run(multi_project / "logistic.onnx", rows)[0].tolist()
    linear = direct_run(multi_project / "linear.onnx", rows)[0].ravel().tolist()
    server = start_server(multi_project, "churn:1", "churn:2", "az", log_name="multi")
    try:
        with server.client() as client:
            one = client.post("/v2/models/churn/versions/1/infer", json=body).json()
            assert one["model_version"] == "1" and one["outputs"][0]["data"] == logistic
            two = client.post("/v2/models/churn/versions/2/infer", json=body).json()
            assert two["model_version"] == "2"
            assert np.allclose(two["outputs"][0]["data"], linear, rtol=1e-5)
            newest = client.post("/v2/models/churn/infer", json=body).json()
            assert newest["model_version"] == "2"  # no version: the newest one served
            assert client.get("/v2/models/churn/versions/1").json()["name"] == "churn"
            assert client.post("/v2/models/az/score", json={"data": [1]}).json() == [21]
            metadata = client.get("/v2").json()  # the v2 protocol's three fields, and the models
            assert metadata["models"] == ["churn:1", "churn:2", "az:1"]
            assert metadata["name"] == "mlops" and metadata["version"]
            assert "binary_tensor_data" in metadata["extensions"]
            assert client.get("/v2/health/ready").status_code == 200
            for path in ("/invocations", "/score"):
                refused = client.post(path, json={"inputs": [[1, 2, 3, 4]]})
                assert refused.status_code == 404 and "several models" in refused.json()["error"]
            missing = client.post("/v2/models/nope/infer", json=body)
            assert missing.status_code == 404 and "churn:1" in missing.json()["error"]
            assert client.post("/v2/models/churn/versions/9/infer", json=body).status_code == 404
    finally:
        server.stop()


def test_bad_combinations_are_refused(multi_project):
    twice = mlops(multi_project, "serve", "churn:1", "churn:1", check=False)
    assert twice.returncode == 2 and "churn:1 given more than once" in twice.stderr
    collect = mlops(multi_project, "serve", "churn:1", "churn:2", "--collect", "out", check=False)
    assert collect.returncode == 2 and "--collect serves one model" in collect.stderr
