"""The sweep's passes (profile/passes.py): every point visited PASSES times in the sweep's order,
a PASSES-th of its window each visit, the slices joined back into one window per repeat; the
peak RSS a point reports is the one reached by the end of its first visit. Real load results,
the real process monitor on this process, real timing of the windows."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from mlops_cli.profile import passes
from mlops_cli.profile.loadgen import LoadResult
from mlops_cli.profile.processes import TreeMonitor
from mlops_cli.profile.request import ProfileRequest, plan


def _window(seconds: float, latency: float, label: str | None = None) -> LoadResult:
    """A window of `seconds` that answered one request every `latency` seconds."""
    result = LoadResult(began=time.perf_counter())
    clock = result.began
    while clock - result.began + latency <= seconds:
        clock += latency
        result.latencies.append(latency)
        result.finished.append(clock)
        result.ok += 1
    if label:
        result.labels[label] = result.ok
    time.sleep(seconds)
    result.elapsed = seconds
    return result


def test_joined_lays_slices_end_to_end():
    first, second = _window(0.05, 0.01, "a"), _window(0.05, 0.025, "a")
    second.failed, second.first_error = 1, "HTTP 500"
    whole, cpu = passes.joined([(first, 0.5), (second, 0.25)])
    assert whole.ok == first.ok + second.ok and whole.failed == 1 and whole.first_error == "HTTP 500"
    assert whole.latencies == first.latencies + second.latencies
    assert whole.elapsed == pytest.approx(0.1) and cpu == pytest.approx(0.75)
    assert whole.labels == {"a": first.ok + second.ok}
    # The moments run from 0 to the joined window's end, the second slice's after the first's.
    assert whole.began == 0 and whole.finished == sorted(whole.finished)
    assert 0 < whole.finished[0] <= 0.05 < whole.finished[-1] <= 0.1 + 1e-9
    rates = whole.slice_rates(2)  # one rate per slice here: 100/s, then 40/s
    assert rates == pytest.approx([first.ok / 0.05, second.ok / 0.05])
    alone = (first, 0.5)
    assert passes.joined([alone]) is alone


def test_every_point_is_visited_in_order_each_pass_with_its_window_split():
    request = ProfileRequest(ref="m:1", duration=0.8, warmup=0.2, repeat=2)
    assert passes.visits(request) == passes.PASSES
    assert passes.visits(request, paced=True) == 1
    assert passes.visits(ProfileRequest(ref="m:1", duration=0.5)) == 1  # too short to split
    assert plan(request).total == len(plan(request).inprocess + plan(request).http) * passes.PASSES

    log: list[tuple[str, str, float]] = []

    def cell(name: str, latency: float) -> passes.Cell:
        def run(seconds: float) -> LoadResult:
            log.append((name, "run", seconds))
            return _window(seconds, latency)

        def warm(seconds: float) -> None:
            log.append((name, "warm", seconds))

        def figures(runs, tail, peak_rss):
            return {"name": name, "runs": runs, "tail": tail, "peak_rss": peak_rss}

        return passes.Cell(name, run, warm, figures)

    advanced: list[str] = []
    monitor = TreeMonitor(os.getpid(), tree=False)
    try:
        points = passes.measure(
            [cell("a", 0.001), cell("b", 0.004)], request, monitor, advanced.append, 10, passes.PASSES
        )
    finally:
        monitor.close()
    window = request.duration / passes.PASSES
    one_pass = [("a", "warm"), ("a", "run"), ("a", "run"), ("b", "warm"), ("b", "run"), ("b", "run")]
    visits = [(name, kind) for name, kind, _ in log[: 6 * passes.PASSES]]
    assert visits == one_pass * passes.PASSES
    warmups = [seconds for name, kind, seconds in log if name == "a" and kind == "warm"]
    later = 0.1 / (passes.PASSES - 1)
    assert warmups == pytest.approx([0.1] + [later] * (passes.PASSES - 1))  # 0.2 s in all
    assert all(seconds == window for _, kind, seconds in log[: 6 * passes.PASSES] if kind == "run")
    assert advanced[:2] == [f"pass 1/{passes.PASSES}: a", f"pass 1/{passes.PASSES}: b"]
    assert len(advanced) == 2 * passes.PASSES
    assert [p["name"] for p in points] == ["a", "b"] and [p["index"] for p in points] == [10, 11]
    for point in points:
        assert len(point["runs"]) == request.repeat  # each repeat one window of the whole duration
        for result, cpu in point["runs"]:
            assert result.elapsed == pytest.approx(request.duration) and cpu >= 0
    # Fewer than 2,000 latencies: one extra window after the passes, for the p99.
    assert points[1]["tail"] and log[-1][0] == "b" and log[-1][1] == "run"


def test_a_points_peak_rss_is_the_one_reached_by_its_first_visit():
    request = ProfileRequest(ref="m:1", duration=0.8, warmup=0.0, repeat=1)
    held: list[bytearray] = []
    visits = {"n": 0}

    def run(seconds: float) -> LoadResult:
        visits["n"] += 1
        if visits["n"] == passes.PASSES:  # the last visit grows the process by 300 MB
            held.append(bytearray(300 * 2**20))
            held[-1][::4096] = b"x" * len(range(0, 300 * 2**20, 4096))
            time.sleep(0.3)  # long enough for the monitor's samples to see it
        return _window(seconds, 0.01)

    def figures(runs, tail, peak_rss):
        return {"peak_rss": peak_rss}

    monitor = TreeMonitor(os.getpid(), tree=False)
    try:
        point = passes.measure(
            [passes.Cell("x", run, lambda s: None, figures, top_up=False)],
            request, monitor, lambda d: None, 0, passes.PASSES,
        )[0]  # fmt: skip
        assert monitor.peak_rss > point["peak_rss"] + 250 * 2**20
    finally:
        monitor.close()
        held.clear()
    assert point["peak_rss"] > 0


def test_a_paced_confirmation_is_one_visit_of_its_own_length():
    request = SimpleNamespace(duration=2.0, warmup=0.0, repeat=1)
    seen: list[float] = []

    def run(seconds: float) -> LoadResult:
        seen.append(seconds)
        return _window(seconds, 0.5)

    monitor = TreeMonitor(os.getpid(), tree=False)
    try:
        points = passes.measure(
            [passes.Cell("paced", run, lambda s: None, lambda r, t, p: {"t": t}, top_up=False)],
            request, monitor, lambda d: None, -1, passes.visits(request, paced=True),
        )  # fmt: skip
    finally:
        monitor.close()
    assert seen == [2.0] and points[0]["t"] == []
