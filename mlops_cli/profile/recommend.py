"""From measured points and targets to a recommendation: a pure function, unit-tested alone.

The rules (docs/commands/profile.md states them too):
- A point qualifies when every request succeeded, its p99 is at most `target_p99_ms` and it
  scored at least `target_rps` rows per second (measured, never extrapolated upwards).
- CPU: the point scored `rows_per_cpu_s` rows per CPU-second of the serving processes; serving
  `target_rps` needs `target_rps / rows_per_cpu_s` cores (CPU scales with load below
  saturation), divided by the utilisation kept for bursts (0.8), rounded up to 0.25 of a core,
  at least 0.25. Without `target_rps`, the cores the point used at its own rate. Rows per
  CPU-second is also the figure least moved by other work on a shared machine.
- Memory: the peak RSS of the serving processes plus `headroom`, rounded up to 64 Mi, and
  never above 1.5x the peak (then the largest 64 Mi multiple in [peak, 1.5 x peak], else 1 Mi
  steps): always within [peak, 1.5 x peak].
- The recommendation is the qualifying point needing the least CPU, then the least memory, then
  the fewest workers and threads, then the most rows/s. Stricter targets only remove points and
  raise each point's CPU, so they never give less CPU (nor, at equal CPU, less memory).
- Without any target: the most efficient configuration measured (the most rows per CPU-second:
  a figure other work on the machine hardly moves), given the cores it can use flat out
  (`parallelism`: workers x threads over HTTP, callers x threads in-process, at most the
  machine's cores), so it is never throttled whatever the load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MI = 1 << 20
CPU_STEP = 0.25
UTILISATION = 0.8
MAX_MEMORY_FACTOR = 1.5
DEFAULT_HEADROOM = 0.25
MIN_SUCCESS = 1.0


@dataclass(frozen=True)
class Measured:
    """The figures of one measured point that sizing needs."""

    rows_per_s: float
    p99_ms: float | None
    cpu_used: float  # cores, averaged over the measurement
    peak_rss_bytes: int
    success_rate: float
    batch_size: int
    threads: int
    workers: int
    concurrency: int
    index: int = 0  # the point's position in the profile, to find it again
    rows_per_cpu_s: float | None = None  # default: rows_per_s / cpu_used
    parallelism: int | None = None  # the most cores this configuration can keep busy

    @property
    def efficiency(self) -> float:
        """Rows scored per CPU-second of the serving processes."""
        if self.rows_per_cpu_s:
            return self.rows_per_cpu_s
        return self.rows_per_s / self.cpu_used if self.cpu_used > 0 else math.inf


@dataclass(frozen=True)
class Recommendation:
    cpu: float
    memory_bytes: int
    threads: int
    workers: int
    max_batch_size: int
    concurrency: int
    point: int
    memory_headroom: float  # the headroom the memory actually has over the peak
    cpu_basis: str

    def to_dict(self, confirmed: bool | None = None) -> dict[str, Any]:
        """The shape fixed across commands (deploy reads it), plus how it was reached."""
        return {
            "cpu": self.cpu,
            "memory": f"{self.memory_bytes // MI}Mi",
            "memory_bytes": self.memory_bytes,
            "threads": self.threads,
            "workers": self.workers,
            "max_batch_size": self.max_batch_size,
            "confirmed": confirmed,
            "concurrency": self.concurrency,
            "point": self.point,
            "memory_headroom": round(self.memory_headroom, 4),
            "cpu_basis": self.cpu_basis,
        }


class NoConfiguration(Exception):  # noqa: N818 - a result, not a bug: the caller turns it into exit 5
    """No measured point meets the targets; `best` is the closest one (or None)."""

    def __init__(self, best: Measured | None, reason: str) -> None:
        super().__init__(reason)
        self.best = best
        self.reason = reason


def round_up(value: float, step: float) -> float:
    return math.ceil(round(value / step, 9)) * step


def required_cpu(point: Measured, target_rps: float | None) -> float:
    """Cores to give this configuration so it serves `target_rps` (or its own rate) at 80 %."""
    if target_rps:
        cores = min(target_rps, point.rows_per_s) / point.efficiency / UTILISATION
    else:
        cores = point.cpu_used / UTILISATION
    return max(CPU_STEP, round_up(cores, CPU_STEP))


def recommended_memory(peak: int, headroom: float = DEFAULT_HEADROOM) -> int:
    """Peak RSS plus headroom rounded up to 64 Mi, kept within [peak, 1.5 x peak]."""
    ceiling = peak * MAX_MEMORY_FACTOR
    wanted = peak * (1 + headroom)
    value = round_up(wanted, 64 * MI)
    if value <= ceiling:
        return int(value)
    value = math.floor(ceiling / (64 * MI)) * 64 * MI
    if value >= peak:
        return int(value)
    value = round_up(wanted, MI)
    if value <= ceiling:
        return int(value)
    return int(max(peak, math.floor(ceiling / MI) * MI))


def qualifies(point: Measured, target_p99_ms: float | None, target_rps: float | None) -> bool:
    if point.success_rate < MIN_SUCCESS or point.p99_ms is None:
        return False
    if target_p99_ms is not None and point.p99_ms > target_p99_ms:
        return False
    return not (target_rps is not None and point.rows_per_s < target_rps)


def recommend(
    points: Sequence[Measured],
    target_p99_ms: float | None = None,
    target_rps: float | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> Recommendation:
    """The smallest configuration meeting the targets; NoConfiguration when none does."""
    eligible = [p for p in points if qualifies(p, target_p99_ms, target_rps)]
    if not eligible:
        raise NoConfiguration(_best(points, target_p99_ms), _reason(points, target_p99_ms, target_rps))
    if target_p99_ms is None and target_rps is None:
        return _most_efficient(eligible, headroom)

    def cost(p: Measured) -> tuple:
        return (
            required_cpu(p, target_rps),
            recommended_memory(p.peak_rss_bytes, headroom),
            p.workers,
            p.threads,
            -p.rows_per_s,
            p.index,
        )

    chosen = min(eligible, key=cost)
    cpu, memory = cost(chosen)[:2]
    if target_rps:
        basis = f"{chosen.efficiency:,.0f} rows per CPU-second, for {target_rps:,.0f} rows/s"
    else:
        basis = f"{chosen.cpu_used:.2f} cores used for {chosen.rows_per_s:,.0f} rows/s"
    basis += f", at {UTILISATION:.0%} utilisation"
    return _at(chosen, cpu, memory, basis)


def _most_efficient(eligible: Sequence[Measured], headroom: float) -> Recommendation:
    chosen = max(eligible, key=lambda p: (p.efficiency, -p.workers, -p.threads, p.rows_per_s, -p.index))
    cores = chosen.parallelism or chosen.cpu_used / UTILISATION
    cpu = max(CPU_STEP, round_up(cores, CPU_STEP))
    memory = recommended_memory(chosen.peak_rss_bytes, headroom)
    basis = (
        f"no targets: the most efficient configuration measured ({chosen.efficiency:,.0f} rows per"
        f" CPU-second), with the {cores:g} core(s) it can keep busy"
    )
    return _at(chosen, cpu, memory, basis)


def _at(chosen: Measured, cpu: float, memory: int, basis: str) -> Recommendation:
    """The recommendation to run as the measured point `chosen` ran, with these limits."""
    return Recommendation(
        cpu=cpu,
        memory_bytes=memory,
        threads=chosen.threads,
        workers=chosen.workers,
        max_batch_size=chosen.batch_size,
        concurrency=chosen.concurrency,
        point=chosen.index,
        memory_headroom=memory / chosen.peak_rss_bytes - 1 if chosen.peak_rss_bytes else 0.0,
        cpu_basis=basis,
    )


def _best(points: Sequence[Measured], target_p99_ms: float | None) -> Measured | None:
    """The closest miss: the fastest point within the latency target, else the lowest p99."""
    working = [p for p in points if p.success_rate >= MIN_SUCCESS and p.p99_ms is not None]
    if not working:
        return None
    within = [p for p in working if target_p99_ms is None or p.p99_ms <= target_p99_ms]
    if within:
        return max(within, key=lambda p: p.rows_per_s)
    return min(working, key=lambda p: p.p99_ms)


def _reason(points: Sequence[Measured], target_p99_ms: float | None, target_rps: float | None) -> str:
    working = [p for p in points if p.success_rate >= MIN_SUCCESS and p.p99_ms is not None]
    if not working:
        return "no measured configuration answered every request"
    parts = []
    if target_p99_ms is not None:
        parts.append(
            f"lowest p99 measured {min(p.p99_ms for p in working):.2f} ms (target {target_p99_ms:g} ms)"
        )
    if target_rps is not None:
        parts.append(
            f"highest throughput {max(p.rows_per_s for p in working):,.0f} rows/s (target {target_rps:g})"
        )
    return "no measured configuration meets the targets: " + "; ".join(parts)
