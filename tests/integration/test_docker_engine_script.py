"""scripts/docker-engine.sh and scripts/emulation.sh (through scripts/lib.sh) explain a failed
debootstrap, clean its root and log per run.

Real debootstrap against a mirror address where nothing listens (the failure a firewall or a
wrong mirror gives), with a base image name that cannot exist, so the build path runs.
Needs an answering engine (the script would otherwise start one) and debootstrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.mark.parametrize(
    ("script", "image_variable", "says", "prefix"),
    [
        ("docker-engine.sh", "MLOPS_TEST_BASE_IMAGE", "debootstrap could not build", "run"),
        ("emulation.sh", "MLOPS_TEST_ARM64_BASE_IMAGE", "debootstrap's first stage failed", "emulation"),
    ],
)
def test_a_failed_debootstrap_says_why_and_leaves_no_root(tmp_path, script, image_variable, says, prefix):
    """Both scripts share scripts/lib.sh: its log per run, its failure message and its cleanup."""
    if not _engine_answers():
        if os.environ.get("MLOPS_REQUIRE_DOCKER") == "1":
            pytest.fail("MLOPS_REQUIRE_DOCKER=1 but no Docker engine answers")
        pytest.skip("needs an answering Docker engine (the script would start one)")
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        # The script would install debootstrap with apt-get: not a test's business.
        pytest.skip("needs debootstrap installed and root")
    qemu = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if script == "emulation.sh" and not (qemu.exists() and qemu.read_text().startswith("enabled")):
        pytest.skip("needs qemu-aarch64 enabled (the script would install and register it)")
    temp, logs = tmp_path / "tmp", tmp_path / "logs"
    temp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "MLOPS_ENGINE_LOG_DIR": str(logs),
        image_variable: f"mlops-test-absent-{uuid.uuid4().hex[:8]}:0",
        "MLOPS_DEBIAN_MIRROR": "http://127.0.0.1:9/debian",  # the discard port: refused
    }
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"{script}: {says}")
    assert "127.0.0.1:9" in result.stderr  # why: the release file could not be fetched
    run_logs = list(logs.glob(f"{prefix}-*.log"))
    assert len(run_logs) == 1 and str(run_logs[0]) in result.stderr
    assert "removed the temporary root" in run_logs[0].read_text()
    assert list(temp.iterdir()) == []
