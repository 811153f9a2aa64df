"""pip, the one external tool environments use: argv lists, a timeout, stderr kept for errors."""

from __future__ import annotations

import os
import subprocess
import sys

from mlops_cli.errors import ExternalToolError
from mlops_cli.pids import die_with_parent

TIMEOUT = 600.0


def run_pip(args: list[str], python: str | None = None, timeout: float = TIMEOUT) -> str:
    """Run `python -m pip ARGS`; stdout, or the CompletedProcess's stderr in a raised error.

    Raises PipFailed (carrying pip's stderr) when pip exits non-zero, ExternalToolError when it
    cannot start or times out.
    """
    argv = [python or sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONNOUSERSITE": "1"}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            preexec_fn=die_with_parent,
        )
    except subprocess.TimeoutExpired:
        raise ExternalToolError(f"pip did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise ExternalToolError(f"cannot run pip: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise PipFailedError(done.stderr)
    return done.stdout


class PipFailedError(ExternalToolError):
    """pip ran and failed; `stderr` is what it said."""

    def __init__(self, stderr: str) -> None:
        lines = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
        super().__init__(f"pip failed: {(lines[-1] if lines else stderr.strip()[-300:])}")
        self.stderr = stderr
