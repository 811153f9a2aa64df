"""No command phones home: onnxruntime's telemetry (1.29+ on Linux: a device id and an event
database under ~/.cache/Microsoft, a `.ses` file in the temp folder, uploads to Microsoft) is off
in every process mlops starts, unless the user opts back in with ORT_DISABLE_TELEMETRY=0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnxruntime
import pytest

from tests.cli.test_score_batch import forest, make_table, write  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

# onnxruntime turns its telemetry off by itself when one of these says it runs in a CI service
# (read from its binary: 1.32 checks each name). A user's terminal has none of them, so the runs
# here drop them: otherwise, on a CI machine, the control would find nothing and the test would
# pass whatever mlops did.
CI_MARKERS = (
    "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
    "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
)  # fmt: skip


def left_behind(home: Path, tmp: Path) -> list[str]:
    """What onnxruntime's telemetry writes, wherever it was found."""
    cache = home / ".cache"
    found = [str(p.relative_to(home)) for p in cache.rglob("*")] if cache.exists() else []
    return found + [p.name for p in tmp.iterdir() if p.name.endswith(".ses")]


def score(project: Path, tmp_path: Path, name: str, **extra: str) -> list[str]:
    """`mlops score-batch` (the CLI and two worker processes load onnxruntime) with a fresh home
    and temp folder, as on a user's terminal (no ORT_DISABLE_TELEMETRY of the caller's, no CI
    marker); what it left there."""
    home, tmp = tmp_path / f"home-{name}", tmp_path / f"tmp-{name}"
    home.mkdir()
    tmp.mkdir()
    dropped = {"ORT_DISABLE_TELEMETRY", *CI_MARKERS}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"), **extra)
    data = write(make_table(5_000), project / "in.parquet")
    result = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "score-batch", "forest", "-i", str(data), "-o",
         str(project / f"out-{name}.parquet"), "--workers", "2", "--json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return left_behind(home, tmp)


def test_scoring_writes_no_telemetry_files(project, forest, tmp_path):  # noqa: F811
    assert score(project, tmp_path, "default") == []


@pytest.mark.skipif(
    tuple(int(p) for p in onnxruntime.__version__.split(".")[:2]) < (1, 29),
    reason="onnxruntime before 1.29 has no telemetry on Linux: there is nothing to opt back into",
)
def test_a_user_who_opts_back_in_gets_onnxruntimes_telemetry(project, forest, tmp_path):  # noqa: F811
    """The control: the same run with telemetry allowed leaves onnxruntime's files, so the test
    above would see them if mlops did not turn it off."""
    assert score(project, tmp_path, "opted-in", ORT_DISABLE_TELEMETRY="0")
