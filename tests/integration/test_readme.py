"""The README's Quick start runs as it is written, from start to end (on a free port)."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _quick_start() -> str:
    section = (REPO / "README.md").read_text().split("## Quick start", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.integration
def test_the_quick_start_runs(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = _quick_start()
    assert "8080" in script and "mlops deploy rollback" in script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["TMPDIR"] = str(tmp_path)
    env.pop("MLOPS_STORE", None)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("8080", str(port))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"Rolled back web: revision 3 serves iris:2 ", result.stdout)
    assert "Audit trail intact" in result.stdout
