"""`--push REPO`: tag and push with the docker SDK (targets/docker.py) to a REAL registry (Docker's
Distribution, Debian's `docker-registry`, started on 127.0.0.1 for the test; the engine treats
127.0.0.0/8 registries as plain HTTP), then the kubernetes target runs the image by the digest the
registry returned. kubectl is the stand-in (no cluster can run here).

Skipped without a Docker engine (failing instead under MLOPS_REQUIRE_DOCKER=1, as in CI) or
without the `docker-registry` binary (installed by .ci/run).
"""

from __future__ import annotations

import io
import tarfile
import uuid

import httpx
import pytest
import yaml

from mlops_cli.errors import ExternalToolError
from mlops_cli.targets import docker as docker_runner
from mlops_cli.targets.base import DeploySpec
from mlops_cli.targets.kubernetes import KubernetesTarget
from tests.docker_helpers import docker_engine
from tests.kubectl_standin import install
from tests.registry_helpers import running_registry
from tests.serving_helpers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine():
    return docker_engine(base_image=False, timeout=120)


@pytest.fixture
def registry(tmp_path):
    """A real registry on 127.0.0.1:PORT, stopped afterwards; yields its address."""
    yield from running_registry(tmp_path)


@pytest.fixture
def tiny_image(engine):
    """A one-file image (a few KB) with a unique tag, removed afterwards with what was tagged."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = f"mlops push test {uuid.uuid4()}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    name = f"mlops-push-test-{uuid.uuid4().hex[:10]}:1"
    engine.api.import_image_from_data(buffer.getvalue(), repository=name.split(":")[0], tag="1")
    yield name
    for image in engine.images.list():
        for tag in image.tags:
            if tag == name or "mlops-push-test" in tag:
                engine.images.remove(tag, force=True)


def test_push_tags_pushes_and_returns_the_registry_digest(registry, tiny_image):
    repository = f"{registry}/mlops/fraud"
    reference = docker_runner.push(tiny_image, repository, "fraud-v5-abc")
    assert reference.startswith(f"{repository}@sha256:")
    answer = httpx.get(
        f"http://{registry}/v2/mlops/fraud/manifests/fraud-v5-abc",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert answer.status_code == 200
    assert answer.headers["Docker-Content-Digest"] == reference.split("@", 1)[1]


def test_the_kubernetes_target_runs_the_pushed_digest(registry, tiny_image, tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    standin.reply("get", "deployment", stdout="{}")
    spec = DeploySpec(
        name="fraud",
        revision=1,
        model="fraud",
        version=5,
        digest="sha256:" + "ab" * 32,
        image=tiny_image,
        options={"push": f"{registry}/mlops/fraud"},
    )
    KubernetesTarget().switch(spec, None)
    deployment = [
        doc for doc in yaml.safe_load_all(standin.calls[0]["stdin"]) if doc["kind"] == "Deployment"
    ][0]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{registry}/mlops/fraud@sha256:")
    tags = httpx.get(f"http://{registry}/v2/mlops/fraud/tags/list").json()["tags"]
    assert tags == ["fraud-v5-" + "ab" * 6]


def test_a_registry_that_does_not_answer_is_an_external_tool_error(engine, tiny_image, tmp_path, monkeypatch):
    standin = install(tmp_path / "bin", monkeypatch)
    spec = DeploySpec(
        name="fraud",
        revision=1,
        model="fraud",
        version=5,
        digest="sha256:" + "ab" * 32,
        image=tiny_image,
        options={"push": f"127.0.0.1:{free_port()}/mlops/fraud"},
    )
    with pytest.raises(ExternalToolError, match="docker push .* failed") as caught:
        KubernetesTarget().switch(spec, None)
    assert caught.value.exit_code == 4
    assert standin.calls == []  # nothing applied when the image is not in the registry


def test_pushing_an_image_that_does_not_exist(engine):
    with pytest.raises(ExternalToolError, match="no Docker image 'mlops-push-test-absent:1' to push"):
        docker_runner.push("mlops-push-test-absent:1", "127.0.0.1:5999/x", "1")
