"""`mlops deploy --target docker` against the real engine, with host networking (what an engine
started with --bridge=none, as scripts/docker-engine.sh starts it, allows).

Images of `m` v1, v2 and the broken v3 are built once from the local base image; every
container and image the tests make is removed. Skipped without an engine unless
MLOPS_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy_helpers import BODY, Load, deploy_project, mlops, mlops_json
from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.serving_helpers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine():
    return docker_engine()


@pytest.fixture(scope="module")
def project(engine, tmp_path_factory):
    """The deploy project with an image recorded for m:1, m:2 and m:3."""
    project = deploy_project(tmp_path_factory.mktemp("deploy-docker") / "project")
    tags = [f"mlops-test-deploy-m:{version}-{os.getpid()}" for version in (1, 2, 3)]
    for version, tag in zip((1, 2, 3), tags, strict=True):
        mlops(project, "package", f"m:{version}", "--base-image", BASE_IMAGE, "--image", tag)
    yield project
    for container in engine.containers.list(all=True, filters={"label": "mlops.deployment"}):
        if container.labels["mlops.deployment"].startswith("dk-"):
            container.remove(force=True)
    for tag in tags:
        engine.images.remove(tag, force=True)


def _containers(engine, name):
    return engine.containers.list(all=True, filters={"label": f"mlops.deployment={name}"})


def _served(port: int) -> str:
    answer = httpx.post(f"http://127.0.0.1:{port}/v2/models/m/infer", json=BODY, timeout=10)
    return answer.json()["model_version"]


def test_docker_switches_refuses_and_rolls_back_without_a_failed_request(engine, project):
    name, port = "dk-switch", free_port()
    created = mlops_json(
        project,
        "deploy",
        "m:1",
        "--name",
        name,
        "--target",
        "docker",
        "--port",
        port,
        "--cpu",
        "1.5",
        "--memory",
        "300Mi",
    )
    assert created["action"] == "create" and _served(port) == "1"
    [container] = _containers(engine, name)
    labels = container.labels
    assert labels["mlops.deployment"] == name and labels["mlops.revision"] == "1"
    assert labels["mlops.model.name"] == "m" and labels["mlops.model.version"] == "1"
    assert labels["mlops.model.digest"] == created["digest"]
    host = container.attrs["HostConfig"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["NanoCpus"] == 1_500_000_000 and host["Memory"] == 300 * 2**20
    assert host["NetworkMode"] == "host"
    assert f"PORT={port}" in container.attrs["Config"]["Env"]  # the image's HEALTHCHECK probes $PORT
    # the container's uid owns the folders it writes in; nobody else may enter them
    folder = project / ".mlops" / "deployments" / name
    user = container.attrs["Config"]["User"]
    for part, owner in (
        (folder, f"{os.getuid()}:{os.getgid()}"),
        (folder / "run", user),
        (folder / "collected", user),
    ):
        mode = part.stat()
        assert (mode.st_mode & 0o777, f"{mode.st_uid}:{mode.st_gid}") == (0o700, owner), part
    mounts = {m["Destination"]: m["Source"] for m in container.attrs["Mounts"]}
    assert mounts == {"/deploy/run": str(folder / "run"), "/deploy/collected": str(folder / "collected")}
    assert (Path(os.path.realpath(folder / "run")) / "r1.control.sock").stat().st_mode & 0o777 == 0o600
    try:
        with Load(f"http://127.0.0.1:{port}", rate=200) as load:
            time.sleep(0.5)
            mlops(project, "deploy", "m:2", "--name", name, "--target", "docker", "--port", port)
            refused = mlops(
                project, "deploy", "m:3", "--name", name, "--target", "docker", "--port", port, check=False
            )
            assert refused.returncode == 5, refused.stderr
            assert "smoke inference answered 500" in refused.stderr
            mlops(project, "deploy", "rollback", name)
            time.sleep(0.5)
        assert load.failures == [], load.failures[:5]
        assert load.total >= 200 and set(load.versions) == {"1", "2"}
        assert _served(port) == "1"
        running = _containers(engine, name)
        assert [c.name for c in running] == [f"mlops-{name}-r4"]
        logs = project / ".mlops" / "deployments" / name / "logs"
        assert "Reshape" in (logs / "r3.log").read_text()
        assert "handed over" in (logs / "r2.log").read_text()
        history = mlops_json(project, "deploy", "history", name)
        assert [(r["revision"], r["ref"], r["outcome"]) for r in history] == [
            (1, "m:1", "retired"),
            (2, "m:2", "retired"),
            (3, "m:3", "failed"),
            (4, "m:1", "live"),
        ]
        assert mlops(project, "deploy", "logs", name, "--tail", "5").stdout.strip()
    finally:
        mlops(project, "deploy", "delete", name, check=False)
    assert _containers(engine, name) == []


def test_a_restarted_container_binds_again_and_status_tells_the_truth(engine, project):
    name, port = "dk-status", free_port()
    mlops(project, "deploy", "m:1", "--name", name, "--target", "docker", "--port", port)
    try:
        [container] = _containers(engine, name)
        container.exec_run(["sh", "-c", "kill 1"])  # the server stops; unless-stopped restarts it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["RestartCount"] >= 1:
                try:
                    if _served(port) == "1":
                        break
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        else:
            pytest.fail("the restarted container did not serve again")
        assert mlops_json(project, "deploy", "status", name)["ready"] is True
        container.stop(timeout=30)
        done = mlops(project, "deploy", "status", name, "--json", check=False)
        assert done.returncode == 1 and "exited" in done.stdout
    finally:
        mlops(project, "deploy", "delete", name, check=False)
    assert _containers(engine, name) == []


def test_missing_image_and_missing_engine_exit_4_and_leave_nothing(engine, project):
    port = free_port()
    done = mlops(
        project,
        "deploy",
        "m:1",
        "--name",
        "dk-noimage",
        "--target",
        "docker",
        "--port",
        port,
        "--image",
        "mlops-no-such-image:0",
        check=False,
    )
    assert done.returncode == 4 and "no Docker image 'mlops-no-such-image:0'" in done.stderr
    assert _containers(engine, "dk-noimage") == []
    env_before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    try:
        done = mlops(
            project,
            "deploy",
            "m:1",
            "--name",
            "dk-noengine",
            "--target",
            "docker",
            "--port",
            port,
            check=False,
        )
    finally:
        if env_before is None:
            os.environ.pop("DOCKER_HOST")
        else:
            os.environ["DOCKER_HOST"] = env_before
    assert done.returncode == 4 and "cannot reach the Docker engine" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_docker_workers_are_containers_and_retire_together(engine, project):
    name, port = "dk-workers", free_port()
    try:
        mlops(
            project, "deploy", "m:1", "--name", name, "--target", "docker", "--port", port, "--replicas", "2"
        )
        names = sorted(c.name for c in _containers(engine, name))
        assert names == [f"mlops-{name}-r1", f"mlops-{name}-r1-w1"]
        with Load(f"http://127.0.0.1:{port}", rate=200) as load:
            time.sleep(0.3)
            mlops(
                project,
                "deploy",
                "m:2",
                "--name",
                name,
                "--target",
                "docker",
                "--port",
                port,
                "--replicas",
                "2",
            )
            time.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        assert load.total >= 200 and set(load.versions) == {"1", "2"}
        assert sorted(c.name for c in _containers(engine, name)) == [
            f"mlops-{name}-r2",
            f"mlops-{name}-r2-w1",
        ]
        status = mlops_json(project, "deploy", "status", name)
        assert status["ready"] and "2/2 containers" in status["detail"]
    finally:
        mlops(project, "deploy", "delete", name, check=False)
    assert _containers(engine, name) == []
