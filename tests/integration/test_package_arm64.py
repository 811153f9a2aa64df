"""`mlops package --platform linux/arm64`, built and run for real under qemu emulation.

The arm64 image is built from the arm64 base made by scripts/emulation.sh, with aarch64 wheels
and the network off, beside the amd64 one, and both are pushed to a real registry on 127.0.0.1
as one image index; pulled back by digest, the arm64 image's server starts under emulation,
answers /v2/health/ready, and scores the same rows as the amd64 image of the same version.
Slow (minutes): one build per platform.

Skipped without emulation or the arm64 base, unless MLOPS_REQUIRE_ARM64=1 (as in CI), then it fails.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import numpy as np
import pytest

from mlops_cli.packaging.image_index import DOCKER_LIST, OCI_INDEX
from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.integration.test_package_docker import _mlops
from tests.onnx_helpers import training_data
from tests.registry_helpers import running_registry
from tests.serving_helpers import free_port, infer_body, make_project, register_test_models

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARM64_BASE = os.environ.get("MLOPS_TEST_ARM64_BASE_IMAGE", "mlops-test-base:bookworm-arm64")
# Debian bookworm's qemu-user (7.2) shows an emulated aarch64 process the host's x86
# /proc/cpuinfo; onnxruntime's cpuinfo library then finds no ARM core and crashes (SIGSEGV).
# qemu 8.2 and later emulate the file, and a real arm64 machine has its own: here the test
# mounts an aarch64 one over it (runc allows /proc/cpuinfo as a bind target, as lxcfs uses).
ARM64_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\n"
    for i in range(2)
)


def _arm64_engine():
    engine = docker_engine()
    problem = None
    try:
        engine.images.get(ARM64_BASE)
    except Exception as exc:  # noqa: BLE001 - any failure means "no arm64 base"
        problem = f"no arm64 base image {ARM64_BASE}: {exc} (run scripts/emulation.sh)"
    from mlops_cli.errors import ExternalToolError
    from mlops_cli.packaging.platforms import Platform, require_emulation

    try:
        require_emulation(Platform("linux", "arm64"))
    except ExternalToolError:
        problem = "qemu-aarch64 is not registered in binfmt_misc (run scripts/emulation.sh)"
    if problem:
        if os.environ.get("MLOPS_REQUIRE_ARM64") == "1":
            pytest.fail(f"MLOPS_REQUIRE_ARM64=1 but {problem}")
        pytest.skip(problem)
    return engine


def _serve(engine, image: str, platform: str, rows: np.ndarray, timeout: float, cpuinfo=None) -> dict:
    port = free_port()
    volumes = {str(cpuinfo): {"bind": "/proc/cpuinfo", "mode": "ro"}} if cpuinfo else None
    container = engine.containers.run(
        image,
        command=["--host", "127.0.0.1"],
        environment={"PORT": str(port)},
        network_mode="host",
        platform=platform,
        volumes=volumes,
        detach=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        else:
            pytest.fail(f"{image} never became ready:\n{container.logs().decode()[-3000:]}")
        answer = httpx.post(url + "/v2/models/clf/infer", json=infer_body(rows), timeout=60)
        assert answer.status_code == 200, answer.text
        return {o["name"]: o["data"] for o in answer.json()["outputs"]}
    finally:
        container.remove(force=True)


@pytest.fixture
def registry(tmp_path):
    yield from running_registry(tmp_path / "registry")


def _pushed_index(registry: str, tag: str) -> tuple[dict, str]:
    """The image index under `tag`, read from the registry's HTTP API, and its digest."""
    answer = httpx.get(
        f"http://{registry}/v2/edge/clf/manifests/{tag}",
        headers={"Accept": f"{OCI_INDEX},{DOCKER_LIST}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["Docker-Content-Digest"]


def _config_architecture(registry: str, digest: str) -> str:
    """The architecture a pushed manifest's image config records, read back by digest."""
    manifest = httpx.get(
        f"http://{registry}/v2/edge/clf/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    ).json()
    config = httpx.get(
        f"http://{registry}/v2/edge/clf/blobs/{manifest['config']['digest']}", follow_redirects=True
    )
    return config.json()["architecture"]


def test_both_platforms_pushed_as_one_index_serve_the_same_predictions(tmp_path, registry):
    """One `package --platform linux/arm64,linux/amd64 --push` builds both images (one base per
    platform) and pushes them with one index: fetched from the registry's API, it names both
    manifests with their platforms; each, pulled back by digest, is of its architecture, starts
    (arm64 under emulation), answers /v2/health/ready and scores the same rows."""
    engine = _arm64_engine()
    project = make_project(tmp_path / "project")
    register_test_models(project)
    local = f"mlops-edge-clf:{os.getpid()}"
    rows = training_data(8, seed=4)[0]
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ARM64_CPUINFO)
    pulled = []
    try:
        done = _mlops(
            project, "package", "clf:1", "--platform", "linux/arm64,linux/amd64", "--image", local,
            "--base-image", BASE_IMAGE, "--base-image", ARM64_BASE, "--push", f"{registry}/edge/clf:1",
            "--json",
        )  # fmt: skip
        result = json.loads(done.stdout)
        assert [i["platform"] for i in result["images"]] == ["linux/arm64", "linux/amd64"]
        for image in result["images"]:
            arch = image["platform"].split("/")[1]
            assert engine.images.get(image["image"]).attrs["Architecture"] == arch
        index, digest = _pushed_index(registry, "1")
        assert digest == result["push"]["index"]["digest"]
        assert result["push"]["reference"] == f"{registry}/edge/clf@{digest}"
        platforms = {m["platform"]["architecture"]: m for m in index["manifests"]}
        assert set(platforms) == {"amd64", "arm64"}
        assert all(m["platform"]["os"] == "linux" for m in index["manifests"])
        answers = {}
        for arch in ("arm64", "amd64"):
            manifest = platforms[arch]
            assert _config_architecture(registry, manifest["digest"]) == arch
            by_digest = f"{registry}/edge/clf@{manifest['digest']}"
            engine.images.pull(by_digest)
            pulled.append(by_digest)
            assert engine.images.get(by_digest).attrs["Architecture"] == arch
            answers[arch] = _serve(
                engine, by_digest, f"linux/{arch}", rows, timeout=240 if arch == "arm64" else 60,
                cpuinfo=cpuinfo if arch == "arm64" else None,
            )  # fmt: skip
        assert answers["arm64"]["label"] == answers["amd64"]["label"]
        assert np.allclose(answers["arm64"]["probabilities"], answers["amd64"]["probabilities"], atol=1e-6)
        wheels = {p.name for p in (project / ".mlops" / "cache" / "wheels").glob("onnxruntime-*.whl")}
        assert any("aarch64" in name for name in wheels) and any("x86_64" in name for name in wheels)
    finally:
        for image in engine.images.list():
            for tag in image.tags:
                if tag.startswith((local, f"{registry}/")):
                    engine.images.remove(tag, force=True)
        for reference in pulled:
            try:
                engine.images.remove(reference, force=True)
            except Exception:  # noqa: BLE001, S110 - best-effort cleanup (gone with its tags)
                pass


def test_an_amd64_base_for_an_arm64_image_is_refused(tmp_path):
    _arm64_engine()
    project = make_project(tmp_path / "project")
    register_test_models(project)
    done = _mlops(
        project, "package", "clf:1", "--platform", "linux/arm64", "--base-image", BASE_IMAGE, check=False
    )
    assert done.returncode == 2
    assert f"--base-image {BASE_IMAGE} is a linux/amd64 image, not linux/arm64" in done.stderr
