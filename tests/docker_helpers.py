"""The one way a test gets the real Docker engine: skipped without one, failing instead under
MLOPS_REQUIRE_DOCKER=1 (as in CI), so a missing engine never hides behind a skip there."""

from __future__ import annotations

import os

import pytest

BASE_IMAGE = os.environ.get("MLOPS_TEST_BASE_IMAGE", "mlops-test-base:bookworm")


def docker_engine(*, base_image: bool = True, timeout: int = 600):
    """A docker SDK client that answers (and has the offline base image, unless told otherwise)."""
    try:
        import docker

        engine = docker.from_env(timeout=timeout)
        engine.ping()
        if base_image:
            engine.images.get(BASE_IMAGE)
        return engine
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable engine"
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_DOCKER=1 but Docker is not usable: {exc}")
        pytest.skip(f"no usable Docker engine or base image: {exc}")
