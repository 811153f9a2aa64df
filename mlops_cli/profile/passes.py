"""Measuring a sweep's points in passes: each point's windows spread over its part of the sweep
(the in-process points of one session, the HTTP points of one server).

On the 2-core development machine the CPU's own speed moves by half from one second to the
next and by 3 % from one minute to the next (a fixed pure-Python loop timed for 120 s: mean of
1 s windows 0.0268-0.0416 s, of 60 s windows 0.0301-0.0308 s). A point measured in one stretch
of a second took that second's speed for its own, and two sweeps disagreed on its throughput
by as much. So the sweep visits every point of a part PASSES times and measures a PASSES-th of each
window per visit; a window's figures are its slices joined, so each point rests on the machine's
speed over a quarter of a minute or more, in the same measured time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.profile.points import MIN_P99_SAMPLES

if TYPE_CHECKING:
    from mlops_cli.profile.loadgen import LoadResult
    from mlops_cli.profile.processes import TreeMonitor

PASSES = 3
SPLIT_FROM_S = 0.6  # a shorter window is not split: a slice would be under 0.2 s


@dataclass
class Cell:
    """One point: how to run a window of it, how to turn its windows into figures, and the
    slices measured so far (per repeat: (load result, CPU seconds) of each visit)."""

    describe: str
    run: Callable[[float], LoadResult]  # a measured window of that many seconds
    warm: Callable[[float], object]  # an unmeasured one
    figures: Callable[[list[tuple[LoadResult, float]], list[float], int], dict[str, Any]]
    top_up: bool = True  # extra latencies for a p99 on few requests (not for a paced run)
    slices: list[list[tuple[LoadResult, float]]] = field(default_factory=list)
    peak_rss: int = 0


def visits(request: Any, paced: bool = False) -> int:
    """How many times a sweep visits each point: once for a paced run (its window is its
    definition) or for windows too short to split, else PASSES."""
    return 1 if paced or request.duration < SPLIT_FROM_S else PASSES


def warmup_share(warmup: float, visit: int, passes: int) -> float:
    """A point's `--warmup` spread over its visits: half before the first (the model's and the
    server's first calls), the rest shared by the later ones (only the request changes by then),
    so the sweep takes no longer than one without passes."""
    if passes == 1:
        return warmup
    return warmup / 2 if visit == 0 else warmup / 2 / (passes - 1)


def measure(
    cells: list[Cell],
    request: Any,
    monitor: TreeMonitor,
    advance: Callable[[str], None],
    first_index: int,
    passes: int,
) -> list[dict[str, Any]]:
    """Every cell measured `request.repeat` windows of `request.duration`, in `passes` visits;
    the points in the cells' order. A point's peak RSS is the one reached by the end of its first
    visit: the first pass runs in the sweep's order, as a sweep without passes did."""
    window = request.duration / passes
    for cell in cells:
        cell.slices = [[] for _ in range(request.repeat)]
    for visit in range(passes):
        for cell in cells:
            warmup = warmup_share(request.warmup, visit, passes)
            if warmup:
                cell.warm(warmup)
            for slices in cell.slices:
                before = monitor.start_window()
                result = cell.run(window)
                slices.append((result, monitor.cpu_seconds() - before))
            if visit == 0:
                cell.peak_rss = monitor.peak_rss
            advance(cell.describe if passes == 1 else f"pass {visit + 1}/{passes}: {cell.describe}")
    points = []
    for cell in cells:
        runs = [joined(slices) for slices in cell.slices]
        tail = more_latencies(cell.run, runs, request.duration) if cell.top_up else []
        point = cell.figures(runs, tail, cell.peak_rss)
        point["index"] = first_index + len(points)
        points.append(point)
    return points


def joined(slices: list[tuple[LoadResult, float]]) -> tuple[LoadResult, float]:
    """One window from its slices: latencies and counts together, the answers' moments laid end
    to end (so the window's throughput slices span all of them), CPU seconds summed."""
    from mlops_cli.profile.loadgen import MAX_REASONS, LoadResult

    if len(slices) == 1:
        return slices[0]
    whole = LoadResult()
    offset = 0.0
    for result, _ in slices:
        whole.latencies += result.latencies
        whole.finished += [offset + moment - result.began for moment in result.finished]
        offset += result.elapsed
        whole.ok += result.ok
        whole.failed += result.failed
        whole.first_error = whole.first_error or result.first_error
        whole.reasons += result.reasons[: max(0, MAX_REASONS - len(whole.reasons))]
        for label, count in result.labels.items():
            whole.labels[label] = whole.labels.get(label, 0) + count
    whole.elapsed = offset
    return whole, sum(cpu for _, cpu in slices)


def more_latencies(run: Callable[[float], Any], runs: list, duration: float) -> list[float]:
    """Latencies of one extra window when a point has fewer than MIN_P99_SAMPLES: as long as the
    rate measured needs to reach it, at most one more `duration` (a p99 needs requests, not
    time; the sweep's time stays bounded). A slow point that cannot reach it still doubles its
    requests, which is where a p99 moves most between runs; its interval says how wide it is."""
    have = sum(len(result.latencies) for result, _ in runs)
    elapsed = sum(result.elapsed for result, _ in runs)
    if have >= MIN_P99_SAMPLES or have == 0 or elapsed <= 0:
        return []
    needed = (MIN_P99_SAMPLES - have) / (have / elapsed)
    return list(run(min(max(needed * 1.1, 0.05), duration)).latencies)
