"""Processes this machine runs for deployments: alive or not, stopped gently then firmly.

A revision's process is not our child once the command that started it has exited (it runs in
its own session), so liveness is read from /proc, where a zombie counts as dead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from mlops_cli.pids import pid_alive

alive = pid_alive


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # our own child: reap it
    return True


def stop(pid: int, timeout: float = 30.0, group: bool = True) -> None:
    """SIGTERM (graceful: in-flight requests finish), then SIGKILL after `timeout` seconds."""
    send = os.killpg if group else os.kill
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not alive(pid):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(pid, sig)
        if wait_gone(pid, wait):
            break
