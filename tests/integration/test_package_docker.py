"""`mlops package` against a real Docker engine: one image built per session from the local
base image, run with host networking on 127.0.0.1, checked for answers, user, health, labels.

Skipped when no engine answers, unless MLOPS_REQUIRE_DOCKER=1 (as in CI), then they fail.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time

import httpx
import numpy as np
import pytest

from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.onnx_helpers import direct_run, training_data
from tests.serving_helpers import ACTOR, free_port, infer_body, make_project, register_test_models

pytestmark = pytest.mark.integration


def _engine():
    return docker_engine()


def _mlops(project, *args, check=True):
    env = {**os.environ, "MLOPS_ACTOR": ACTOR}
    env.pop("MLOPS_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="session")
def engine():
    return _engine()


@pytest.fixture(scope="session")
def packaged(engine, tmp_path_factory):
    """The `clf` model packaged once: (project, result JSON). The image is removed at the end."""
    project = make_project(tmp_path_factory.mktemp("package") / "project")
    register_test_models(project)
    tag = f"mlops-test-clf:{os.getpid()}"
    done = _mlops(project, "package", "clf:1", "--image", tag, "--base-image", BASE_IMAGE, "--json")
    result = json.loads(done.stdout)
    yield project, result
    try:
        engine.images.remove(tag, force=True)
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup
        pass


def test_image_is_recorded_and_small(packaged):
    project, result = packaged
    assert result["built"] and result["image_id"].startswith("sha256:")
    assert result["added_size"] < 200 * 1024 * 1024
    packages = " ".join(result["packages"])
    for absent in ("torch", "tensorflow", "scikit-learn", "docker", "kubernetes", "typer", "rich"):
        assert absent not in packages
    events = json.loads(_mlops(project, "audit", "log", "--json").stdout)
    assert any(e["action"] == "image" and e["details"]["ref"] == result["image"] for e in events)
    from mlops_cli.domain import ModelRef
    from mlops_cli.store import jobs, open_store

    store = open_store(project)
    try:
        artifacts = jobs.list_artifacts(store.conn, ModelRef.parse("clf:1"), "image")
    finally:
        store.close()
    assert [(a.ref, a.digest) for a in artifacts] == [(result["image"], result["image_id"])]
    assert artifacts[0].details["size"] == result["size"]
    shown = json.loads(_mlops(project, "models", "show", "clf:1", "--json").stdout)
    assert [(a["kind"], a["ref"], a["digest"]) for a in shown["artifacts"]] == [
        ("image", result["image"], result["image_id"])
    ]
    assert result["image"] in _mlops(project, "models", "show", "clf:1").stdout
    # the wheels were cached for the next build
    assert list((project / ".mlops" / "cache" / "wheels").glob("onnxruntime-*.whl"))


def test_image_labels_user_port(engine, packaged):
    project, result = packaged
    image = engine.images.get(result["image"])
    config = image.attrs["Config"]
    labels = config["Labels"]
    assert labels["mlops.model.name"] == "clf" and labels["mlops.model.version"] == "1"
    assert labels["mlops.model.digest"].startswith("sha256:")
    assert "mlops.model.git.commit" in labels
    assert labels["org.opencontainers.image.title"] == "mlops-clf"
    assert labels["org.opencontainers.image.version"] == "1"
    assert "org.opencontainers.image.created" in labels
    assert config["User"] and not config["User"].startswith(("0", "root"))
    assert "8080/tcp" in config["ExposedPorts"]
    assert "PORT=8080" in config["Env"]
    assert "ORT_DISABLE_TELEMETRY=1" in config["Env"]  # onnxruntime 1.29+ would phone home
    assert "mlops_cli.serving.healthcheck" in " ".join(config["Healthcheck"]["Test"])


def test_container_serves_as_non_root_and_is_healthy(engine, packaged):
    project, result = packaged
    port = free_port()
    container = engine.containers.run(
        result["image"],
        command=["--host", "127.0.0.1"],
        environment={"PORT": str(port)},
        network_mode="host",
        detach=True,
        # Only the timing is overridden: the image's own HEALTHCHECK command runs.
        healthcheck={"interval": 500_000_000, "timeout": 3_000_000_000, "retries": 3, "start_period": 0},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(container.logs().decode())
        rows = training_data(3, seed=2)[0]
        response = httpx.post(url + "/v2/models/clf/infer", json=infer_body(rows), timeout=30)
        assert response.status_code == 200, response.text
        label, proba = direct_run(project / "logistic.onnx", rows)
        outputs = {o["name"]: o for o in response.json()["outputs"]}
        assert outputs["label"]["data"] == label.tolist()
        np.testing.assert_allclose(np.array(outputs["probabilities"]["data"]).reshape(3, 2), proba, rtol=1e-6)
        invocations = httpx.post(url + "/invocations", json={"instances": rows.tolist()}, timeout=30).json()
        assert [p["prediction"] for p in invocations["predictions"]] == label.tolist()
        exit_code, uid = container.exec_run(["id", "-u"])
        assert exit_code == 0 and uid.decode().strip() != "0"
        # HOME is /tmp: onnxruntime's telemetry would have left .cache/Microsoft and a .ses there
        telemetry_files = ["find", "/tmp", "-name", "*.ses", "-o", "-name", "Microsoft"]
        exit_code, listing = container.exec_run(telemetry_files)
        assert exit_code == 0 and listing.decode().strip() == "", listing
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
                break
            time.sleep(0.5)
        assert container.attrs["State"]["Health"]["Status"] == "healthy"
        container.stop(timeout=20)  # SIGTERM: a graceful stop exits 0
        assert container.wait(timeout=30)["StatusCode"] == 0
    finally:
        container.remove(force=True)


def test_no_build_writes_the_context_only(packaged, tmp_path):
    project, _ = packaged
    out = tmp_path / "ctx"
    done = _mlops(project, "package", "clf:1", "--no-build", "--output-dir", str(out), "--json")
    result = json.loads(done.stdout)
    assert result["built"] is False and result["image_id"] is None
    names = {p.name for p in out.iterdir()}
    assert {"Dockerfile", "requirements.txt", "wheels", "app", "model"} <= names
    assert (out / "model" / "mlops-serving.json").is_file()
    assert not (out / "app" / "mlops_cli" / "cli").exists()
    assert not (out / "app" / "mlops_cli" / "store").exists()
    dockerfile = (out / "Dockerfile").read_text()
    assert "--no-index" in dockerfile and "USER 10001" in dockerfile


def _import_busybox_free_image(engine, tag: str) -> None:
    """A base image without Python: one text file, made with `docker import`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"no python here\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    engine.api.import_image_from_data(buffer.getvalue(), repository=tag.split(":")[0], tag=tag.split(":")[1])


def test_failed_build_shows_the_step_and_exits_4(engine, packaged):
    project, _ = packaged
    base = f"mlops-test-nopython:{os.getpid()}"
    _import_busybox_free_image(engine, base)
    try:
        done = _mlops(
            project, "package", "clf:1", "--base-image", base, "--image", "mlops-broken:1", check=False
        )
        assert done.returncode == 4
        error_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
        assert len(error_lines) == 1 and "Step 4/" in error_lines[0]
        assert "  | " in done.stderr  # the failing step's log tail
    finally:
        engine.images.remove(base, force=True)


def test_wheelhouse_fills_an_empty_cache_without_the_index(packaged, tmp_path):
    project, _ = packaged
    wheelhouse = project / ".mlops" / "cache" / "wheels"
    fresh = make_project(tmp_path / "fresh")
    register_test_models(fresh)
    out = tmp_path / "ctx"
    args = ("package", "clf:1", "--no-build", "--output-dir", str(out), "--wheelhouse", str(wheelhouse))
    result = json.loads(_mlops(fresh, *args, "--json").stdout)
    wheels = sorted(p.name for p in (out / "wheels").iterdir())
    assert len(wheels) == len(result["packages"])
    assert sorted(p.name for p in (fresh / ".mlops" / "cache" / "wheels").glob("*.whl")) == wheels
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = _mlops(
        fresh, "package", "clf:1", "--no-build", "--output-dir", str(tmp_path / "c2"), check=False
    )
    assert failed.returncode == 0  # now cached: no index needed at all
    missing = make_project(tmp_path / "missing")
    register_test_models(missing)
    done = _mlops(
        missing,
        "package",
        "clf:1",
        "--no-build",
        "--output-dir",
        str(tmp_path / "c3"),
        "--wheelhouse",
        str(empty),
        check=False,
    )
    assert done.returncode == 4 and "could not download wheels" in done.stderr


def test_gpu_without_a_cuda_base_image_is_refused_before_any_work(engine, tmp_path):
    """No CUDA image can be pulled here: --gpu on the plain base is exit 4 naming how to get one,
    and nothing is downloaded, built or recorded."""
    project = make_project(tmp_path / "project")
    register_test_models(project)
    done = _mlops(project, "package", "clf:1", "--gpu", "--base-image", BASE_IMAGE, check=False)
    assert done.returncode == 4, done.stderr
    assert "--gpu needs a CUDA base image" in done.stderr and "nvidia/cuda" in done.stderr
    shown = json.loads(_mlops(project, "models", "show", "clf:1", "--json").stdout)
    assert shown["artifacts"] == []
    assert not (project / ".mlops" / "cache" / "wheels").exists()


def test_one_platform_is_pushed_under_its_tag_without_an_index(engine, packaged, tmp_path):
    """`--push` of one image: pushed under the tag itself, the registry's digest returned, no
    index (the multi-platform index is tested with the arm64 build in test_package_arm64.py)."""
    from mlops_cli.packaging.image import PackageResult
    from mlops_cli.packaging.push import push_images
    from tests.registry_helpers import running_registry

    _, result = packaged
    registry = running_registry(tmp_path / "registry")
    address = next(registry)
    try:
        built = PackageResult(
            result["ref"], result["digest"], result["image"], BASE_IMAGE, None, True,
            image_id=result["image_id"], platform=result["platform"],
        )  # fmt: skip
        pushed = push_images([built], f"{address}/edge/one:3")
        answer = httpx.get(
            f"http://{address}/v2/edge/one/manifests/3",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert answer.status_code == 200
        assert pushed["reference"] == f"{address}/edge/one@{answer.headers['Docker-Content-Digest']}"
        assert pushed["index"] is None and len(pushed["manifests"]) == 1
        assert pushed["manifests"][0]["platform"]["architecture"] == result["platform"].split("/")[1]
    finally:
        registry.close()
        engine.images.remove(f"{address}/edge/one:3", force=True)
