"""The entry-script examples (docs/commands/entry-scripts.md) run from start to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "answer"),
    [
        ("entry-azure/run.sh", [0, 2]),
        ("entry-hooks/run.sh", [{"species": "setosa", "confidence": 0.982}]),
    ],
)
def test_entry_example_runs(script, answer, tmp_path):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    env.pop("MLOPS_STORE", None)
    result = subprocess.run(
        ["bash", str(EXAMPLES / script)], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    answers = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert answers and json.loads(answers[0]) == answer
    assert "Audit trail intact" in result.stdout
