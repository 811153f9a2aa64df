"""Whether a process still runs: the one liveness check for lock owners, temp files of
interrupted writes, outbox claims and deployment processes.

Read from /proc where it can be, so a zombie (exited, not yet reaped) counts as dead; elsewhere
a signal 0 tells whether the pid exists at all. A pid is reused once its process is gone, so a
record that must outlive its process (an outbox claim) keeps the process's start time too
(`process_start`): a live pid with another start time is another process, and the claim is dead.
"""

from __future__ import annotations

import os


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int | None = None) -> str | None:
    """When `pid` (default: this process) started, in clock ticks since boot; None where unknown."""
    fields = _stat_fields(pid or os.getpid())
    return fields[19] if fields and len(fields) > 19 else None


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether `pid` runs, and when `start` is given, is still the process that started then."""
    if not pid:
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        return start is None or len(fields) <= 19 or fields[19] == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> None:
    """A `preexec_fn`: the child gets SIGKILL when the process that started it dies, even by
    kill -9 (Linux's PR_SET_PDEATHSIG), so a build's pip never outlives the build it works for
    and writes into a folder the next build has swept. A no-op where prctl does not exist."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
