"""Step commands as child processes: one process group each, logged to a file, stoppable.

A step's `cmd` is shell text (as in DVC and CI files), run by `/bin/sh -c` in the pipeline's
folder. Each child gets its own session, so a Ctrl-C at the terminal reaches mlops only and
mlops ends every child's whole process tree itself (SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

TERMINATE_GRACE = 5.0
LOG_TAIL_LINES = 20


class StepProcesses:
    """The running step processes of one pipeline run, so an interruption can end them all."""

    def __init__(self, held_fds: tuple[int, ...] = ()) -> None:
        self.held_fds = held_fds  # inherited by every step (the run lock: see RunLock)
        self._running: dict[str, subprocess.Popen] = {}
        self._mutex = threading.Lock()
        self._stopping = False

    def run(self, step: str, cmd: str, cwd: Path, log: Path) -> int:
        """Run one step's command to its end; return its exit code (negative: killed by a signal)."""
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle, self._mutex:
            if self._stopping:
                return -signal.SIGTERM
            try:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", cmd],
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=self.held_fds,
                    env={**os.environ, "MLOPS_PIPELINE_STEP": step},
                )
            except OSError as exc:  # no /bin/sh, the folder vanished: the step failed to start
                handle.write(f"mlops: cannot start the step: {exc}\n".encode())
                return 127
            self._running[step] = process
        try:
            return process.wait()
        finally:
            with self._mutex:
                self._running.pop(step, None)

    def stop_all(self) -> list[str]:
        """Terminate every running step's process group (SIGTERM, then SIGKILL); return their names."""
        with self._mutex:
            self._stopping = True
            running = dict(self._running)
        for process in running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE
        for process in running.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # also ends grandchildren that outlived it
        return sorted(running)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a step's log (at most 64 kB read)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 65536))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


class RunLock:
    """One `pipeline run` at a time per pipeline file: a second one would run the same steps
    and overwrite the lock file with what it read before the first one finished.

    An advisory `flock` on a file in the store, released by the kernel once every process
    holding it has ended, so a crash never leaves it held. Step processes inherit it: after a
    kill -9 of mlops, its steps run on (in their own sessions), and the pipeline stays locked
    until they have ended, so a new run cannot race them on the same outs.
    """

    def __init__(self, folder: Path, pipeline: Path) -> None:
        import hashlib

        key = hashlib.sha256(str(pipeline).encode()).hexdigest()[:16]
        self.path = folder / f"pipeline-{key}.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        from mlops_cli.errors import MlopsError

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise MlopsError(
                "another `mlops pipeline run` of this pipeline is running"
                f" (pid {holder}, or steps it started)",
                hint="wait for it to finish",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    @property
    def fd(self) -> int | None:
        return self._fd

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
