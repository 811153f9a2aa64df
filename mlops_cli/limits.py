"""Bounds on what one command may start on this machine.

A typo (`--workers 1000` for 10, `--threads 100000`, `--batch-sizes 1000000000`) must be one
clear error, not processes, threads or memory asked for until the machine stops forking or
swaps: `mlops profile --threads 100000` made onnxruntime start 100,000 threads, and the shell
that ran it could not fork again. The bounds scale with the machine and sit far above anything
that could be faster: more busy threads or processes than cores only share them.
"""

from __future__ import annotations

import os

from mlops_cli.errors import UsageError

PER_CORE = 8  # threads or processes per core before a count is taken for a typo
MOST_CALLERS = 1024  # load-generator callers (threads) or connections (sockets) of one point


def cores() -> int:
    return os.cpu_count() or 1


def most_processes() -> int:
    return max(32, PER_CORE * cores())


def most_threads() -> int:
    return max(64, PER_CORE * cores())


def check_processes(option: str, *counts: int) -> None:
    """UsageError when a count of local worker processes is more than this machine could use."""
    _check(option, max(counts, default=0), most_processes(), "processes")


def check_threads(option: str, *counts: int) -> None:
    """UsageError when a thread count (onnxruntime's, per session) is more than could be used."""
    _check(option, max(counts, default=0), most_threads(), "threads")


def check_callers(option: str, *counts: int) -> None:
    if max(counts, default=0) > MOST_CALLERS:
        raise UsageError(f"{option} {max(counts)}: at most {MOST_CALLERS} callers or connections per point")


def check_memory(what: str, needed: int) -> None:
    """UsageError when `needed` bytes are more than half the memory available now."""
    available = available_memory()
    if available is not None and needed > available // 2:
        raise UsageError(
            f"{what} needs about {needed / 1e9:.1f} GB, more than half the {available / 1e9:.1f} GB"
            " of memory available"
        )


def available_memory() -> int | None:
    """MemAvailable (Linux), else the free physical pages; None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _check(option: str, value: int, most: int, what: str) -> None:
    if value > most:
        raise UsageError(
            f"{option} {value}: more {what} than this machine can use"
            f" (at most {most} on {cores()} core{'' if cores() == 1 else 's'})"
        )
