"""`mlops package` of an entry-script version: its environment baked into the image, built with
the network off from wheels fetched on the host, the script answering /score in the container.

Skipped when no engine answers, unless MLOPS_REQUIRE_DOCKER=1 (as in CI), then they fail.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from tests.deploy_helpers import mlops
from tests.docker_helpers import BASE_IMAGE, docker_engine
from tests.entry import scripts
from tests.serving_helpers import free_port, make_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_packaged_entry_script_runs_in_its_environment(tmp_path):
    engine = docker_engine()
    project = make_project(tmp_path / "project")
    scripts.register_script(project, "schema", scripts.SCHEMA, "inference-schema\n")
    tag = f"mlops-entry-scripts-test:{os.getpid()}"
    done = mlops(project, "package", "schema", "--image", tag, "--base-image", BASE_IMAGE, "--json")
    result = json.loads(done.stdout)
    try:
        packages = result["packages"]
        assert any(p.startswith("inference-schema==") for p in packages)
        assert "wrapt==1.16.0" in packages  # the version's pin, not this machine's wrapt
        port = free_port()
        container = engine.containers.run(
            tag,
            command=["--host", "127.0.0.1"],
            environment={"PORT": str(port)},
            network_mode="host",
            detach=True,
        )
        try:
            deadline, answer = time.monotonic() + 60, None
            while time.monotonic() < deadline:
                try:
                    answer = httpx.post(f"http://127.0.0.1:{port}/score", json={"data": [1, 2]}, timeout=5)
                    break
                except httpx.TransportError:
                    time.sleep(0.3)
            assert answer is not None and answer.status_code == 200, container.logs()[-2000:]
            assert answer.json() == [2, 4]
        finally:
            container.remove(force=True)
    finally:
        engine.images.remove(tag, force=True)
