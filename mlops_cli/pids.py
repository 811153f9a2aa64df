"""Whether a process id still runs: the one liveness check for lock owners, temp files of
interrupted writes, outbox claims and deployment processes.

Read from /proc where it can be, so a zombie (exited, not yet reaped) counts as dead; elsewhere
a signal 0 tells whether the pid exists at all.
"""

from __future__ import annotations

import os


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
