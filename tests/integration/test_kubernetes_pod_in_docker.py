"""The Deployment's pod spec, run by the REAL Docker engine the way a kubelet would run it: the
nearest this machine gets to a cluster (none can run here). The image is the one `mlops package
--with-collect` builds; the container gets exactly what the manifest says: its user and group, a
read-only root filesystem, all capabilities dropped, no privilege escalation, its args, its env
with the secretKeyRef resolved, its memory/CPU limits, and a fresh host folder owned by the pod's
group for each emptyDir. Then the manifest's own probe paths must answer, the API key must be
enforced, inference must work, and a graceful stop must leave the collected Parquet file in the
`collected` volume. This proves the manifest and the image fit: a path the server writes outside
its volumes, or a user the image cannot run as, fails here.

Skipped without a Docker engine and the base image (failing under MLOPS_REQUIRE_DOCKER=1, as in CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from mlops_cli.targets import kubernetes_manifests as k8s
from mlops_cli.targets.base import DeploySpec
from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.onnx_helpers import training_data
from tests.serving_helpers import ACTOR, free_port, infer_body, make_project, register_test_models

pytestmark = pytest.mark.integration
KEY = "k8s-pod-test-key-5b1e"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    engine = docker_engine()
    project = make_project(tmp_path_factory.mktemp("k8s-pod") / "project")
    register_test_models(project)
    tag = f"mlops-test-k8s-pod:{os.getpid()}"
    env = {**os.environ, "MLOPS_ACTOR": ACTOR}
    env.pop("MLOPS_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "package", "clf:1", "--image", tag, "--base-image", BASE_IMAGE,
         "--with-collect", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    yield engine, json.loads(done.stdout)
    engine.images.remove(tag, force=True)


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]]


def run_like_a_kubelet(engine, deployment: dict, port: int, secrets: dict[str, str], volume_root):
    """Start the Deployment's single container with the settings its pod spec gives."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = {**pod["securityContext"], **container["securityContext"]}
    assert security["runAsNonRoot"] and security["runAsUser"] != 0
    binds = {}
    for volume in pod["volumes"]:
        assert set(volume) == {"name", "emptyDir"}, "only emptyDir volumes can be run here"
        folder = volume_root / volume["name"]
        folder.mkdir(mode=0o770)
        os.chown(folder, 0, pod["securityContext"]["fsGroup"])  # emptyDir + fsGroup: group-owned
        folder.chmod(0o2770)
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
        binds[str(folder)] = {"bind": mount["mountPath"], "mode": "rw"}
    env = {"PORT": str(port)}  # host networking: the port the test picked, as a free one
    for item in container.get("env", []):
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            env[item["name"]] = item["value"]
    limits = container["resources"]["limits"]
    return engine.containers.run(
        container["image"],
        command=[*container.get("args", []), "--host", "127.0.0.1"],  # tests bind 127.0.0.1 only
        environment=env,
        user=f"{security['runAsUser']}:{security['runAsGroup']}",
        group_add=[str(pod["securityContext"]["fsGroup"])],
        read_only=security["readOnlyRootFilesystem"],
        cap_drop=security["capabilities"]["drop"],
        security_opt=["no-new-privileges"] if not security["allowPrivilegeEscalation"] else [],
        mem_limit=memory_bytes(limits["memory"]),
        nano_cpus=int(int(limits["cpu"][:-1]) * 1e6),
        volumes=binds,
        network_mode="host",
        detach=True,
    )


def wait_ready(url: str, container) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.3)
    pytest.fail("never ready:\n" + container.logs().decode()[-3000:])


def test_the_pod_spec_runs_the_packaged_image(image, tmp_path):
    engine, result = image
    spec = DeploySpec(
        name="clf",
        revision=1,
        model="clf",
        version=1,
        digest=result.get("digest") or "sha256:" + "0" * 64,
        cpu=1.0,
        memory="512Mi",
        api_key_env="CLF_KEY",
        collect=True,
        env={"LOG_LEVEL": "info"},
        # what deploy sends for a version without a stored signature: shapes from the server
        options={"smoke": {"kind": "infer", "source": "server metadata", "rows": 2}},
    )
    settings = k8s.Settings(image=result["image"])
    docs = {doc["kind"]: doc for doc in k8s.manifests(spec, settings, api_key=KEY)}
    secret = docs["Secret"]
    secrets = {secret["metadata"]["name"]: secret["stringData"]}
    deployment = docs["Deployment"]
    container_spec = deployment["spec"]["template"]["spec"]["containers"][0]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = run_like_a_kubelet(engine, deployment, port, secrets, tmp_path)
    try:
        wait_ready(url + container_spec["readinessProbe"]["httpGet"]["path"], container)
        assert httpx.get(url + container_spec["livenessProbe"]["httpGet"]["path"]).status_code == 200
        # The startup probe is the gate: ready + the smoke inference, run inside the container as
        # the kubelet would exec it (here on the test's port instead of the pod's 8080).
        command = container_spec["startupProbe"]["exec"]["command"]
        command = [str(port) if i and command[i - 1] == "--port" else arg for i, arg in enumerate(command)]
        passed = container.exec_run(command)
        assert passed.exit_code == 0, passed.output.decode()
        assert b"2 synthesised rows" in passed.output
        wrong = [*command[: command.index("--smoke") + 1], '{"kind": "invocations", "columns": ["nope"], '
                 '"data": [[1], [2]], "rows": 2}', *command[command.index("--smoke") + 2 :]]  # fmt: skip
        refused = container.exec_run(wrong)
        assert refused.exit_code == 1 and b"smoke probe: smoke /invocations answered 400" in refused.output
        rows = training_data(3, seed=4)[0]
        body = infer_body(rows)
        assert httpx.post(url + "/v2/models/clf/infer", json=body, timeout=30).status_code == 401
        answer = httpx.post(
            url + "/v2/models/clf/infer", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert {output["name"] for output in answer.json()["outputs"]} >= {"label"}
        container.stop(timeout=30)  # SIGTERM, as the kubelet sends: drain, flush the collection
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs().decode()[-3000:]
        logs = container.logs().decode()
        assert "Read-only file system" not in logs and "Permission denied" not in logs, logs[-3000:]
    finally:
        container.remove(force=True)
    collected = list((tmp_path / "collected").rglob("*.parquet"))
    assert collected, f"no Parquet file in the collected volume: {list((tmp_path / 'collected').rglob('*'))}"
