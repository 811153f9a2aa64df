"""The promises of the docs: `make demo` and the quick start run from start to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.integration
@pytest.mark.parametrize("script", ["quickstart.sh", "demo.sh"])
def test_example_script_runs(script, tmp_path):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    env.pop("MLOPS_STORE", None)
    result = subprocess.run(
        ["bash", str(EXAMPLES / script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Audit trail intact" in result.stdout
