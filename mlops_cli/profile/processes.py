"""CPU time and peak RSS of a process tree, sampled in a background thread (psutil).

A server with `--workers N` is a parent and N children, so both figures are summed over the
tree. RSS is sampled every `interval` seconds and the peak kept: a spike shorter than that can
be missed, which is why the recommendation adds headroom on top.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mlops_cli.errors import MissingDependencyError


def _psutil() -> Any:
    try:
        import psutil
    except ImportError:
        raise MissingDependencyError("psutil", "profile") from None
    return psutil


class TreeMonitor:
    """Samples the RSS of a process and its descendants until `close()`; `peak_rss` is the max."""

    def __init__(self, pid: int, interval: float = 0.05, tree: bool = True) -> None:
        psutil = _psutil()
        self._root = psutil.Process(pid)
        self._tree = tree
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cpu: dict[int, float] = {}  # CPU seconds per process ever seen in the tree
        self._known_children: list[Any] = []
        self._root_read = False
        self.peak_rss = 0
        self.window_peak_rss = 0
        self.sample()
        self._thread = threading.Thread(target=self._run, name="mlops-profile-rss", daemon=True)
        self._thread.start()

    def _processes(self) -> list[Any]:
        psutil = _psutil()
        children: list[Any] = []
        if self._tree:
            try:
                children = self._root.children(recursive=True)
            except psutil.Error:
                children = list(self._known_children)  # a transient /proc race: keep the last list
            self._known_children = children
        return [self._root, *children]

    def sample(self) -> int:
        """One RSS sample of the tree (bytes); also refreshes the CPU time seen per process."""
        psutil = _psutil()
        total = 0
        seen: dict[int, float] = {}
        for process in self._processes():
            try:
                with process.oneshot():
                    total += process.memory_info().rss
                    times = process.cpu_times()
                    seen[process.pid] = times.user + times.system
            except psutil.Error:
                continue
        self._root_read = self._root.pid in seen
        with self._lock:
            # CPU time only grows: a process missing from one sample (exited, or unreadable for a
            # moment) keeps its last figure, and is never counted twice when it is read again.
            for pid, cpu in seen.items():
                self._cpu[pid] = max(self._cpu.get(pid, 0.0), cpu)
            self.peak_rss = max(self.peak_rss, total)
            self.window_peak_rss = max(self.window_peak_rss, total)
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used by the tree so far.

        The root is read again (up to five times) when a sample could not read it, so a window
        never ends on a stale figure for the process doing the work.
        """
        for _ in range(5):
            self.sample()
            if self._root_read:
                break
            time.sleep(0.01)
        with self._lock:
            return sum(self._cpu.values())

    def start_window(self) -> float:
        """Begin a measurement window: resets the window's peak RSS, returns the CPU seconds now."""
        cpu = self.cpu_seconds()
        with self._lock:
            self.window_peak_rss = 0
        self.sample()
        return cpu

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
