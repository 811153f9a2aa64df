"""Latency percentiles and the spread of a figure over repeats; plain Python, no numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTILES = (50, 90, 95, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile by linear interpolation (numpy's default); None when empty."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p95/p99 and max, in milliseconds."""
    ordered = sorted(latencies_s)
    summary = {f"p{q}_ms": _ms(percentile(ordered, q)) for q in PERCENTILES}
    summary["max_ms"] = _ms(ordered[-1]) if ordered else None
    return summary


def p99_interval(sorted_values: Sequence[float], z: float = 1.96) -> tuple[float, float] | None:
    """A distribution-free 95 % confidence interval of the 99th percentile: the order statistics
    whose ranks bound where the true p99's rank falls (binomial, normal approximation). With
    few samples the upper end is the maximum: the interval says how little is known."""
    n = len(sorted_values)
    if n == 0:
        return None
    centre, width = n * 0.99, z * math.sqrt(n * 0.99 * 0.01)
    low = max(int(math.floor(centre - width)) - 1, 0)
    high = min(int(math.ceil(centre + width)), n - 1)
    return sorted_values[low], sorted_values[high]


def spread(values: Sequence[float]) -> float | None:
    """(max - min) / median of repeated measurements: 0.1 means they differ by 10 % of the median."""
    if len(values) < 2:
        return None
    ordered = sorted(values)
    middle = percentile(ordered, 50) or 0.0
    return (ordered[-1] - ordered[0]) / middle if middle else None


def median(values: Sequence[float]) -> float | None:
    return percentile(sorted(values), 50)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)
