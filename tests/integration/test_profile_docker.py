"""`mlops profile --in-container` against the real Docker engine: the packaged image measured at
two CPU limits, the recommendation re-measured in a fresh container with its CPU and memory
limits, the confirmed profile stored. Skipped without an engine unless MLOPS_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.serving_helpers import ACTOR, make_project, register_test_models

pytestmark = pytest.mark.integration


def _engine():
    return docker_engine()


def _mlops(project, *args):
    env = {**os.environ, "MLOPS_ACTOR": ACTOR}
    env.pop("MLOPS_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def packaged(tmp_path):
    """`clf:1` packaged under a tag unique to this run; the image is removed afterwards."""
    engine = _engine()
    project = make_project(tmp_path / "project")
    register_test_models(project)
    tag = f"mlops-test-profile-{os.getpid()}:1"
    done = _mlops(project, "package", "clf:1", "--image", tag, "--base-image", BASE_IMAGE)
    assert done.returncode == 0, done.stderr
    yield engine, project, tag
    for container in engine.containers.list(all=True, filters={"ancestor": tag}):
        container.remove(force=True)
    engine.images.remove(tag, force=True)


def test_in_container_measures_at_each_limit_and_confirms(packaged):
    engine, project, tag = packaged
    done = _mlops(
        project, "profile", "clf:1", "--in-container", "--cpus", "0.5,1", "--mode", "http",
        "--batch-sizes", "1,8", "--concurrency", "2", "--duration", "0.5", "--warmup", "0.1",
        "--target-p99-ms", "250", "--target-rps", "200", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = json.loads(done.stdout)
    image_id = engine.images.get(tag).id
    assert profile["settings"]["image"] == image_id  # the recorded image, not a new build
    assert profile["basis"] == "container"
    limits = [(p["cpu_limit"], p["batch_size"]) for p in profile["points"]]
    assert limits == [(0.5, 1), (0.5, 8), (1.0, 1), (1.0, 8)]
    for point in profile["points"]:
        assert point["success_rate"] == 1.0 and point["rows_per_s"] > 0
        assert 20 << 20 < point["peak_rss_bytes"] < 1 << 30  # the container's processes, seen from the host
        # the CFS quota holds: a closed loop cannot use more than the limit (plus sampling slack)
        assert 0 < point["cpu_used"] <= point["cpu_limit"] * 1.3
    rec = profile["recommendation"]
    confirmation = profile["confirmation"]
    assert confirmation["cpu"] == rec["cpu"] and confirmation["memory_bytes"] == rec["memory_bytes"]
    again = confirmation["point"]
    assert again["cpu_limit"] == rec["cpu"] and again["batch_size"] == rec["max_batch_size"]
    assert again["memory_limit"] == rec["memory_bytes"] and again["mode"] == "confirmation"
    assert confirmation["paced_rows_per_s"] == 200
    assert rec["confirmed"] is True and confirmation["confirmed"] is True, confirmation
    assert again["p99_ms"] <= 250 and again["rows_per_s"] >= 190
    shown = json.loads(_mlops(project, "models", "show", "clf:1", "--json").stdout)
    stored = [a for a in shown["artifacts"] if a["kind"] == "profile"]
    assert len(stored) == 1 and stored[0]["details"]["recommendation"]["confirmed"] is True
    assert "; confirmed;" in _mlops(project, "models", "show", "clf:1").stdout
    assert not engine.containers.list(all=True, filters={"label": "mlops.profile", "ancestor": tag})
