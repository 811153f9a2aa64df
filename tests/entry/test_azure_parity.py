"""A score.py written for Azure ML answers the same under `mlops serve` as under Azure's own
server (`azureml-inference-server-http`, in .venv-peers/azureml, built by scripts/peers.sh): the same
requests, the same JSON, with and without inference_schema's decorators.

Skipped when that peer environment is missing, unless MLOPS_REQUIRE_AZUREML=1 (as in CI), then
the test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_helpers import mlops
from tests.entry import scripts
from tests.serving_helpers import Server, free_port, make_project, start_server, wait_ready

PEER = Path(__file__).resolve().parents[2] / ".venv-peers" / "azureml" / "bin" / "azmlinfsrv"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "entry-azure"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _peer() -> Path:
    if not PEER.exists():
        if os.environ.get("MLOPS_REQUIRE_AZUREML") == "1":
            pytest.fail(f"MLOPS_REQUIRE_AZUREML=1 but {PEER} is missing (bash .ci/run builds it)")
        pytest.skip(f"Azure's inference server is not installed in {PEER.parent.parent}")
    return PEER


def _azure(project: Path, script: Path, model_dir: Path) -> Server:
    port = free_port()
    log = project / f"azure-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(_peer()), "--entry_script", str(script), "--port", str(port)],
            cwd=project,
            env={**os.environ, "AZUREML_MODEL_DIR": str(model_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    wait_ready(server, path="/")
    return server


def _build_environment(project: Path, ref: str) -> None:
    """Build the version's environment first: `serve` would, but slower than a ready wait."""
    from mlops_cli.environments.venvs import environment_for
    from tests.deploy_helpers import mlops_json

    entry = mlops_json(project, "models", "show", ref)["metadata"]["entry"]
    environment_for(project / ".mlops" / "envs", entry)


@pytest.mark.parametrize("kind", ["joblib forest (examples/entry-azure)", "inference_schema decorators"])
def test_same_answers_as_azures_server(kind, tmp_path):
    _peer()
    project = make_project(tmp_path / "project")
    if kind.startswith("joblib"):
        subprocess.run([sys.executable, str(EXAMPLE / "train.py"), "model.joblib"], cwd=project, check=True)
        script, model, requests = (
            EXAMPLE / "score.py",
            project / "model.joblib",
            [{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}, {"data": [[6.0, 2.2, 4.0, 1.0]]}],
        )
        mlops(project, "register", model, "--entry", script)  # this Python has scikit-learn
    else:
        script, model = project / "schema.py", project / "model.bin"
        script.write_text(scripts.SCHEMA)
        model.write_bytes(b"weights")
        (project / "requirements.txt").write_text("inference-schema\n")
        mlops(project, "register", model, "--entry", script, "--requirements", "requirements.txt")
        requests = [{"data": [1, 2.5]}, {"data": []}]
        _build_environment(project, model.stem)
    ours = start_server(project, model.stem, log_name="ours")
    theirs = _azure(project, script, project)
    try:
        with ours.client() as mine, theirs.client() as azure:
            for body in requests:
                a, b = mine.post("/score", json=body), azure.post("/score", json=body)
                assert (a.status_code, a.json()) == (b.status_code, b.json()), body
            failing = {"data": "not rows"} if kind.startswith("joblib") else {"other": 1}
            a, b = mine.post("/score", json=failing), azure.post("/score", json=failing)
            assert a.status_code == 500 or a.status_code == b.status_code, (a.text, b.text)
            assert b.status_code >= 400
    finally:
        ours.stop()
        theirs.stop()
