"""`mlops profile` is repeatable (issue #17.14): two runs of a short sweep on a small model agree
point by point. The README's benchmark shows the default sweep on a quiet machine; this test
holds the property in CI with tolerances that hold on this machine kind even when it is shared
(other builds running): the figures a loaded scheduler moves least, rows per CPU-second and the
p99 over enough requests, must agree. It fails when a change makes a point's figures depend on
chance: a p99 read from a handful of requests, CPU counted outside the window, a warm-up measured."""

from __future__ import annotations

import statistics

import pytest

from tests.onnx_helpers import logistic_onnx, register_onnx

pytestmark = pytest.mark.slow

SWEEP = (
    "--batch-sizes", "1,64", "--concurrency", "1,4", "--threads", "1",
    "--duration", "0.5", "--warmup", "0.1", "--repeat", "2", "--json",
)  # fmt: skip
# Seen at a load average of 22 on 2 cores (eleven runnable processes per core): rows per
# CPU-second differed by a median of 7 % (5 of 8 points within 15 %), p99 by a median of 42 %
# (HTTP points up to 187 %: there the tail is the scheduler's). On 2026-12-06 the same VM, idle
# (load 0.0), gave in-process points whose two repeats of 0.5 s, in one run, differed by up to
# 45 % at the same CPU used (the host's speed moves, not the measurement): medians of 16-26 %
# across runs, 1 failure in 2-3 runs at 15 %, at this commit and at the one before the wave.
# The bound is therefore the noise floor of this machine kind, not the product's promise: a
# figure read from chance (a handful of requests, CPU counted outside the window, a warm-up
# measured) differs by far more. The 15 % agreement of the default sweep is a benchmark figure
# on a quiet machine (`benchmarks/bench_profile.py --runs 2`), never a test.
AGREE = 0.35  # |a - b| / mean, per point
P99_AGREE = 0.5


def _difference(a: float, b: float) -> float:
    return abs(a - b) / ((a + b) / 2)


def test_two_runs_of_a_short_sweep_agree(cli, store, project):
    register_onnx(store, logistic_onnx(project), "clf")
    runs = []
    for _ in range(2):
        result = cli("profile", "clf", *SWEEP)
        assert result.exit_code == 0, result.stderr
        runs.append(result.json["points"])
    assert len(runs[0]) == len(runs[1]) == 8  # 2 batch sizes x 2 concurrencies x 2 modes
    per_cpu, p99 = [], []
    for a, b in zip(*runs, strict=True):
        assert (a["mode"], a["batch_size"], a["concurrency"]) == (
            b["mode"],
            b["batch_size"],
            b["concurrency"],
        )
        assert a["latency_samples"] >= 200 and b["latency_samples"] >= 200  # the p99 rests on requests
        per_cpu.append(_difference(a["rows_per_cpu_s"], b["rows_per_cpu_s"]))
        p99.append(_difference(a["p99_ms"], b["p99_ms"]))
    report = f"rows per CPU-s: {[f'{d:.0%}' for d in per_cpu]}; p99: {[f'{d:.0%}' for d in p99]}"
    assert statistics.median(per_cpu) <= AGREE, report
    assert sum(d <= AGREE for d in per_cpu) >= len(per_cpu) / 2, report
    assert statistics.median(p99) <= P99_AGREE, report
