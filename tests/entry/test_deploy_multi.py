"""`mlops deploy REF REF ...` and `mlops package REF REF ...`: several versions in one server.

Real server processes on 127.0.0.1 (the local target); the image's build context is checked
file by file (building it is test_package_multi's job, with the real engine).
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.deploy_helpers import BODY, deploy_project, mlops, mlops_json, server_pids
from tests.entry import scripts
from tests.serving_helpers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = deploy_project(tmp_path_factory.mktemp("multi-deploy") / "project")
    scripts.azure_ensemble(project)  # az:1, an Azure-form script: it may sit beside plain graphs
    scripts.register_script(project, "echo", scripts.ECHO)  # another entry script: it may not
    return project


def _served(port: int, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=10)


def test_a_set_is_gated_recorded_switched_and_rolled_back(project):
    name, port = "multi", free_port()
    try:
        created = mlops_json(project, "deploy", "m:1", "m:2", "az", "--name", name, "--port", port)
        assert created["models"] == ["m:1", "m:2", "az:1"] and created["ref"] == "m:1"
        assert created["smoke"]["kind"] == "multi" and "az:1: entry script" in created["smoke"]["source"]
        assert "m:2:" in created["state"]["detail"]  # the gate smoked every model
        assert _served(port, "/v2/models/m/versions/1/infer", BODY).json()["model_version"] == "1"
        assert _served(port, "/v2/models/m/versions/2/infer", BODY).json()["model_version"] == "2"
        assert _served(port, "/v2/models/az/score", {"data": [1]}).json() == [21]
        assert mlops_json(project, "deploy", "status", name)["models"] == ["m:1", "m:2", "az:1"]
        shown = mlops_json(project, "models", "show", "m:2")["deployments"]
        assert shown == [{"name": name, "target": "local", "revisions": [1], "live": True}]
        refused_rm = mlops(project, "models", "rm", "m:2", check=False)
        assert refused_rm.returncode != 0 and name in refused_rm.stderr  # it serves: not removable

        switched = mlops_json(project, "deploy", "m:1", "--name", name)  # another set: a new revision
        assert switched["action"] == "switch" and switched["models"] == ["m:1"]
        assert _served(port, "/v2/models/m/versions/2/infer", BODY).status_code == 404

        refused = mlops(project, "deploy", "m:1", "m:3", "--name", name, check=False)
        assert refused.returncode == 5 and "m:3: smoke inference answered 500" in refused.stderr
        assert _served(port, "/invocations", {"inputs": [[0.1, 0.2, 0.3, 0.4]]}).status_code == 200

        back = mlops_json(project, "deploy", "rollback", name, "--to", "1")
        assert back["action"] == "rollback" and back["models"] == ["m:1", "m:2", "az:1"]
        assert _served(port, "/v2/models/m/versions/2/infer", BODY).json()["model_version"] == "2"
        history = mlops_json(project, "deploy", "history", name)
        assert [r["models"] for r in history] == [
            ["m:1", "m:2", "az:1"],
            ["m:1"],
            ["m:1", "m:3"],
            ["m:1", "m:2", "az:1"],
        ]
        assert [r["outcome"] for r in history] == ["retired", "retired", "failed", "live"]
    finally:
        mlops(project, "deploy", "delete", name, "--purge", check=False)
    assert server_pids(project, name) == []


@pytest.mark.parametrize(
    ("refs", "extra", "said"),
    [
        (["m:1", "m:1"], [], "m:1 given more than once"),
        (["az", "echo"], [], "az:1 has an Azure-form entry script"),
        (["m:1", "m:2"], ["--collect"], "--collect serves one model"),
    ],
)
def test_a_set_that_cannot_share_a_server_is_refused(project, refs, extra, said):
    done = mlops(project, "deploy", *refs, *extra, "--name", "refused", check=False)
    assert done.returncode == 2 and said in done.stderr
    assert done.stderr.count("error:") == 1 and "Traceback" not in done.stderr
    assert mlops(project, "deploy", "status", "refused", check=False).returncode != 0  # nothing recorded


def test_kubernetes_plan_probes_every_model(project):
    plan = mlops_json(
        project,
        "deploy",
        "m:1",
        "m:2",
        "--name",
        "k",
        "--target",
        "kubernetes",
        "--image",
        "r/x:1",
        "--dry-run",
    )
    assert plan["models"] == ["m:1", "m:2"]
    manifests = plan["plan"]["yaml"]  # the pod's startup probe runs the gate's smoke for both
    assert "mlops_cli.serving.smoke_probe" in manifests and '"kind":"multi"' in manifests
    assert '"model":"m","outputs"' in manifests and '"version":2' in manifests


def test_package_context_holds_every_version(project, tmp_path):
    out = tmp_path / "context"
    result = mlops_json(project, "package", "m:1", "m:2", "--no-build", "--output-dir", out)
    assert result["models"] == ["m:1", "m:2"] and result["image"].startswith("mlops-m-set:")
    dockerfile = (out / "Dockerfile").read_text()
    assert '"--more-model-dir", "/models/1"' in dockerfile and "COPY models/ /models/" in dockerfile
    assert "mlops.models.digests" in dockerfile
    first = json.loads((out / "model" / "mlops-serving.json").read_text())
    second = json.loads((out / "models" / "1" / "mlops-serving.json").read_text())
    assert (first["name"], first["version"]) == ("m", 1) and (second["name"], second["version"]) == ("m", 2)
    bundle = mlops(
        project, "package", "m:1", "m:2", "--format", "bundle", "-o", tmp_path / "b.tgz", check=False
    )
    assert bundle.returncode == 2 and "a bundle holds one version" in bundle.stderr
    mixed = mlops(project, "package", "az", "echo", "--no-build", "--output-dir", tmp_path / "c", check=False)
    assert mixed.returncode == 2 and "Azure-form" in mixed.stderr


@pytest.mark.slow
def test_one_image_serves_the_set_and_the_docker_target_gates_every_model(project):
    """The real engine: `package REF REF` builds one image; `deploy REF REF --target docker`
    finds it recorded for exactly that set and smokes both models in the container."""
    from tests.docker_helpers import BASE_IMAGE, docker_engine

    engine = docker_engine()
    tag, name, port = f"mlops-entry-multi-test:{os.getpid()}", "dk-multi", free_port()
    built = mlops_json(project, "package", "m:1", "m:2", "--image", tag, "--base-image", BASE_IMAGE)
    try:
        labels = engine.images.get(tag).labels
        assert labels["mlops.models"] == "m:1 m:2" and built["models"] == ["m:1", "m:2"]
        created = mlops_json(
            project, "deploy", "m:1", "m:2", "--name", name, "--target", "docker", "--port", port
        )
        assert created["models"] == ["m:1", "m:2"] and created["state"]["info"]["image"] == tag
        assert "m:1:" in created["state"]["detail"] and "m:2:" in created["state"]["detail"]
        assert _served(port, "/v2/models/m/versions/1/infer", BODY).json()["model_version"] == "1"
        assert _served(port, "/v2/models/m/versions/2/infer", BODY).json()["model_version"] == "2"
    finally:
        mlops(project, "deploy", "delete", name, check=False)
        for container in engine.containers.list(all=True, filters={"label": f"mlops.deployment={name}"}):
            container.remove(force=True)
        engine.images.remove(tag, force=True)
