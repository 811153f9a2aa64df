"""Serving entry-script versions: Azure's init()/run() at /score and /invocations, hooks around
an ONNX graph, and every failure of the user's code as a 500 while the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.deploy_helpers import mlops
from tests.entry import scripts
from tests.onnx_helpers import direct_run, logistic_onnx
from tests.serving_helpers import Server, free_port, make_project, start_server, wait_ready


@pytest.fixture(scope="module")
def entry_project(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("entry") / "project")
    ensemble = scripts.azure_ensemble(project)
    (project / "hooks.py").write_text(scripts.HOOKS)
    (project / "broken.py").write_text(scripts.BROKEN_INIT)
    mlops(project, "register", logistic_onnx(project), "--name", "lr", "--entry", "hooks.py")
    mlops(project, "register", ensemble, "--name", "broken", "--entry", "broken.py")
    return project


@pytest.fixture(scope="module")
def azure(entry_project):
    server = start_server(entry_project, "az", log_name="az")
    yield server
    server.stop()


def test_azure_run_at_score_and_invocations(azure: Server):
    with azure.client() as client:
        for path in ("/score", "/invocations"):
            answer = client.post(path, json={"data": [1, 2]})
            assert answer.status_code == 200, answer.text
            assert answer.json() == [21, 41]  # 10 * x * a + b, from the ensemble's two pickles
        dirs = client.post("/score", json={"env": True}).json()
        assert Path(dirs["AZUREML_MODEL_DIR"], "ensemble", "a.pkl").is_file()
        assert Path(dirs["MLOPS_MODEL_DIR"], "a.pkl").is_file()
        infer = client.post("/v2/models/az/infer", json={"inputs": []})
        assert infer.status_code == 400 and "/score" in infer.json()["error"]


def test_user_code_failures_are_500s_naming_the_exception(azure: Server):
    with azure.client() as client:
        failed = client.post("/score", json={"fail": True}, headers={"x-request-id": "req-7"})
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert "run() raised ValueError: asked to fail" in error and "req-7" in error
        assert "Traceback" not in failed.text
        unserialisable = client.post("/score", json={"set": True})
        assert unserialisable.status_code == 500
        assert "returned a set, which is not JSON-serialisable" in unserialisable.json()["error"]
        # still serving
        assert client.post("/score", json={"data": [0]}).json() == [1]
    log = azure.log.read_text()
    assert "Traceback" in log and "asked to fail" in log


def test_hooks_around_the_onnx_graph(entry_project):
    server = start_server(entry_project, "lr", log_name="lr")
    try:
        rows = np.array([[1, 2, 3, 4], [-1, -2, -3, -4]], dtype=np.float32)
        want = direct_run(entry_project / "logistic.onnx", rows)[0].tolist()
        with server.client() as client:
            for path in ("/score", "/invocations"):
                answer = client.post(path, json={"rows": rows.tolist()})
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"labels": want, "rows": 2}
            tensors = {
                "inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": rows.ravel().tolist()}]
            }
            infer = client.post("/v2/models/lr/infer", json=tensors)
            assert infer.status_code == 200
            assert infer.json()["outputs"][0]["data"] == want  # tensors in, tensors out: no hooks
            bad = client.post("/score", json={"rows": "x"})
            assert bad.status_code == 500 and "preprocess() raised ValueError" in bad.json()["error"]
    finally:
        server.stop()


def test_failing_init_keeps_serving_errors_and_the_deploy_gate_refuses_it(entry_project):
    port = free_port()
    process_server = _start_unready(entry_project, "broken")
    try:
        with process_server.client() as client:
            answer = client.post("/score", json={"data": [1]})
            assert answer.status_code == 500
            assert "init() raised RuntimeError: the model file is missing" in answer.json()["error"]
            ready = client.get("/v2/health/ready")
            assert ready.status_code == 503 and "init() raised" in ready.json()["error"]
    finally:
        process_server.stop()
    done = mlops(entry_project, "deploy", "broken", "--name", "brk", "--port", port, check=False)
    assert done.returncode == 5, done.stderr
    assert "init() raised RuntimeError" in done.stderr
    ok = mlops(entry_project, "deploy", "az", "--name", "azd", "--port", port, check=False)
    try:
        assert ok.returncode == 0, ok.stderr
        assert httpx.post(f"http://127.0.0.1:{port}/score", json={"data": [3]}).json() == [61]
    finally:
        mlops(entry_project, "deploy", "delete", "azd", check=False)


def _start_unready(project: Path, ref: str) -> Server:
    import os
    import subprocess
    import sys

    port = free_port()
    log = project / f"{ref}-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops_cli", "serve", ref, "--port", str(port)],
            cwd=project,
            env={**os.environ, "MLOPS_ACTOR": "tester@example.com"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    wait_ready(server, path="/v2/health/live")
    return server
