"""Processes this machine runs for deployments: alive or not, stopped gently then firmly.

A revision's process is not our child once the command that started it has exited (it runs in
its own session), so liveness is read from /proc, where a zombie counts as dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

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


# --- tracking: every server process a deployment starts, by pid and start time --------------
# A record is written the moment a process is started and removed once it is gone, so `status`
# finds it and `delete` stops it whatever the deployment's records say (a deployer killed with
# -9 mid-switch writes no record). The start time tells a live server from a reused pid.


@dataclass(frozen=True)
class Tracked:
    pid: int
    start: int  # clock ticks since boot (/proc/PID/stat field 22)
    revision: int
    worker: int
    path: Path

    def running(self) -> bool:
        return alive(self.pid) and start_time(self.pid) == self.start


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def track(folder: Path, revision: int, worker: int, pid: int) -> None:
    """Note a started server process in `folder`/procs/ (written atomically)."""
    procs = folder / "procs"
    procs.mkdir(mode=0o700, exist_ok=True)
    path = procs / f"r{revision}w{worker}.json"
    data = {"pid": pid, "start": start_time(pid), "revision": revision, "worker": worker}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def tracked(folder: Path, revision: int | None = None) -> list[Tracked]:
    """The processes noted in `folder`/procs/ (of one revision, or all), gone or not."""
    found = []
    for path in sorted((folder / "procs").glob("r*w*.json")):
        try:
            data = json.loads(path.read_text())
            entry = Tracked(
                int(data["pid"]), int(data["start"] or -1), int(data["revision"]), int(data["worker"]), path
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if revision is None or entry.revision == revision:
            found.append(entry)
    return found


def stop_tracked(folder: Path, revision: int | None = None, timeout: float = 30.0) -> list[int]:
    """Stop the tracked processes (of one revision, or all) that still run; forget every one.
    Returns the pids stopped."""
    stopped = []
    for entry in tracked(folder, revision):
        if entry.running():
            stop(entry.pid, timeout)
            stopped.append(entry.pid)
        untrack(entry)
    return stopped


def untrack(entry: Tracked) -> None:
    with contextlib.suppress(FileNotFoundError):
        entry.path.unlink()


def forget_gone(folder: Path) -> None:
    """Drop the records of processes that have exited (an old revision that drained)."""
    for entry in tracked(folder):
        if not entry.running():
            untrack(entry)
