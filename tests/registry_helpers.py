"""A REAL registry (Docker's Distribution, Debian's `docker-registry`, installed by .ci/run) on
127.0.0.1 for a test: the engine treats 127.0.0.0/8 registries as plain HTTP. Skipped without
the binary."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.serving_helpers import free_port

REGISTRY = shutil.which("docker-registry")


def running_registry(folder: Path) -> Iterator[str]:
    """Start a registry storing under `folder`; yields `127.0.0.1:PORT`, stops it afterwards."""
    if REGISTRY is None:
        pytest.skip("no docker-registry binary (apt-get install docker-registry)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "registry.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {"filesystem": {"rootdirectory": str(folder / "blobs")}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    server = subprocess.Popen(
        [REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail(f"docker-registry did not start: {server.stderr.read1().decode()}")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
