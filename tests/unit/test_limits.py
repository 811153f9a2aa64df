"""limits: counts and sizes a typo would ask for are refused, what a machine can use is not."""

from __future__ import annotations

import pytest

from mlops_cli import limits
from mlops_cli.errors import UsageError


def test_counts_scale_with_the_cores(monkeypatch):
    monkeypatch.setattr(limits.os, "cpu_count", lambda: 2)
    assert (limits.most_processes(), limits.most_threads()) == (32, 64)
    monkeypatch.setattr(limits.os, "cpu_count", lambda: 64)
    assert (limits.most_processes(), limits.most_threads()) == (512, 512)
    limits.check_processes("--workers", 1, 512)
    with pytest.raises(UsageError, match=r"--workers 513: .* \(at most 512 on 64 cores\)"):
        limits.check_processes("--workers", 2, 513)
    monkeypatch.setattr(limits.os, "cpu_count", lambda: None)  # unknown: one core
    with pytest.raises(UsageError, match=r"\(at most 64 on 1 core\)"):
        limits.check_threads("--threads", 65)


def test_callers_are_bounded_per_point():
    limits.check_callers("--concurrency", 1, 1024)
    with pytest.raises(UsageError, match="--concurrency 1025"):
        limits.check_callers("--concurrency", 1025)


def test_memory_is_checked_against_half_of_what_is_available(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 8_000_000_000)
    limits.check_memory("--rows 10", 4_000_000_000)
    with pytest.raises(UsageError, match=r"--rows 9 needs about 4.0 GB, more than half the 8.0 GB"):
        limits.check_memory("--rows 9", 4_000_000_001)
    monkeypatch.setattr(limits, "available_memory", lambda: None)  # unknown: nothing refused
    limits.check_memory("--rows 9", 10**15)


def test_available_memory_reads_this_machine():
    found = limits.available_memory()
    assert found is not None and 0 < found < 1 << 50
