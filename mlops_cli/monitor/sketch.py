"""Streaming statistics of one column, small enough to store and exact where it matters.

A numeric column is summarised over a fixed, sorted set of **knots** (the reference's values
when it has at most EXACT_LIMIT of them, else KNOTS quantiles of a uniform sample, the exact
min and max, and SPAN_KNOTS evenly spaced values between them, so that a long tail is cut
into narrow intervals too). For each knot the sketch counts the values equal to it; for each open
interval between knots (and the two tails) it counts the values inside and sums their distance
to the interval's upper knot (the lower one for the upper tail). From that:

- the empirical CDF is exact at every knot, so KS is exact when the reference was stored
  exactly and off by at most the mass of one interval (about 1/KNOTS) otherwise;
- the integral of the CDF over each interval is exact, so the Wasserstein distance (the
  integral of |F - G|) is exact on every interval where the two CDFs do not cross.

Reference and current data are counted over the reference's knots, in one pass each: a chunk
is sorted (numpy's SIMD sort is faster than binary-searching every value) and the knots are
located in it. Categorical columns are counted in `categories.py`.
"""

from __future__ import annotations

import base64
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

KNOTS = 1025  # quantile knots: interval mass ~1/1024, so KS from a sketch is within ~0.001
SPAN_KNOTS = 513  # evenly spaced knots too, so no interval of a long tail is wide
SAMPLE = 65_536  # reservoir per column that places the knots (the counts are exact anyway)
EXACT_LIMIT = 10_000  # a reference with at most this many values is stored value by value
DISTINCT_LIMIT = 21  # Evidently's rules look at <= 2, <= 5 and <= 20 distinct values


def encode_array(values: np.ndarray) -> dict[str, Any]:
    """An array as JSON: little-endian bytes in base64 (compact and bit-exact)."""
    import numpy as np

    array = np.ascontiguousarray(values)
    dtype = "<f8" if array.dtype.kind == "f" else "<i8"
    return {"dtype": dtype, "data": base64.b64encode(array.astype(dtype).tobytes()).decode("ascii")}


def decode_array(data: dict[str, Any]) -> np.ndarray:
    import numpy as np

    return np.frombuffer(base64.b64decode(data["data"]), dtype=data["dtype"]).astype(
        "float64" if data["dtype"] == "<f8" else "int64"
    )


def missing_share(missing: int, present: int) -> float:
    """The share of a column's cells that were missing (0.0 for no cells at all)."""
    total = missing + present
    return missing / total if total else 0.0


def finite_values(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The finite values of a float column and how many were missing (NaN, null or infinite)."""
    import numpy as np

    finite = np.isfinite(values)
    if finite.all():
        return values, 0
    return values[finite], int(values.size - np.count_nonzero(finite))


_scratch = threading.local()


def scratch(n: int, slot: int) -> np.ndarray:
    """A float64 work array of n values, reused per thread and slot.

    Columns are counted chunk after chunk by a few threads: fresh half-megabyte arrays each
    time would each be a new memory map to fault in (system time grew as large as the work).
    """
    import numpy as np

    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    array = buffers.get(slot)
    if array is None or array.size < n:
        array = buffers[slot] = np.empty(max(n, 1 << 16))
    return array[:n]


def sorted_copy(values: np.ndarray) -> np.ndarray:
    """The values sorted, in this thread's first work array."""
    s = scratch(values.size, 0)
    s[:] = values
    s.sort()
    return s


@dataclass
class Moments:
    """Count, missing, min, max, mean and the sum of squared deviations, merged chunk by chunk."""

    n: int = 0
    missing: int = 0
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0

    def update_sorted(self, s: np.ndarray, missing: int) -> None:
        import numpy as np

        self.missing += missing
        if s.size == 0:
            return
        mean = float(s.mean())
        d = np.subtract(s, mean, out=scratch(s.size, 1))
        # Not np.dot: BLAS starts its own threads, which fight the column threads for the cores.
        m2 = float(np.square(d, out=d).sum())
        total = self.n + s.size
        delta = mean - self.mean
        self.mean += delta * s.size / total
        self.m2 += m2 + delta * delta * self.n * s.size / total
        self.n = total
        low, high = float(s[0]), float(s[-1])
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    @property
    def std(self) -> float:
        """Population std (numpy's default ddof=0, what Evidently normalises by)."""
        return math.sqrt(self.m2 / self.n) if self.n else 0.0

    @property
    def missing_rate(self) -> float:
        return missing_share(self.missing, self.n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.n,
            "missing": self.missing,
            "missing_rate": self.missing_rate,
            "min": self.min,
            "max": self.max,
            "mean": self.mean if self.n else None,
            "std": self.std if self.n else None,
            "m2": self.m2,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Moments:
        return cls(data["count"], data["missing"], data["min"], data["max"], data["mean"] or 0.0, data["m2"])


class Distinct:
    """The distinct values and their counts, while there are at most DISTINCT_LIMIT of them."""

    def __init__(self, counts: dict[float, int] | None = None, overflow: bool = False) -> None:
        self.counts: dict[float, int] = counts or {}
        self.overflow = overflow

    def update_sorted(self, s: np.ndarray) -> None:
        import numpy as np

        if self.overflow or s.size == 0:
            return
        changes = s[1:] != s[:-1]
        if np.count_nonzero(changes) >= DISTINCT_LIMIT:  # before listing a million positions
            self.overflow, self.counts = True, {}
            return
        starts = np.flatnonzero(np.concatenate(([True], changes)))
        sizes = np.diff(np.append(starts, s.size))
        for value, size in zip(s[starts].tolist(), sizes.tolist(), strict=True):
            self.counts[value] = self.counts.get(value, 0) + size
        if len(self.counts) > DISTINCT_LIMIT:
            self.overflow, self.counts = True, {}

    @property
    def values(self) -> dict[float, int] | None:
        return None if self.overflow else self.counts

    def to_dict(self) -> list[list[float]] | None:
        return None if self.overflow else [[k, v] for k, v in sorted(self.counts.items())]

    @classmethod
    def from_dict(cls, data: list[list[float]] | None) -> Distinct:
        if data is None:
            return cls(overflow=True)
        return cls({float(k): int(v) for k, v in data})


class NumericScan:
    """The reference's first pass: moments, distinct values and what places the knots."""

    def __init__(self, seed: int = 0) -> None:
        import numpy as np

        self.moments = Moments()
        self.distinct = Distinct()
        self._exact: list[np.ndarray] | None = []
        self._rng = np.random.default_rng(seed)
        self._sample = np.empty(0)
        self._priority = np.empty(0)

    def update(self, values: np.ndarray) -> None:
        import numpy as np

        x, missing = finite_values(values)
        s = np.sort(x)
        self.moments.update_sorted(s, missing)
        self.distinct.update_sorted(s)
        if self._exact is not None:
            self._exact.append(s)
            if self.moments.n > EXACT_LIMIT:
                self._exact = None
        priority = self._rng.random(x.size)
        if self._priority.size >= SAMPLE:  # only values that beat the worst kept one matter
            keep = priority < self._priority.max()
            x, priority = x[keep], priority[keep]
        self._sample = np.concatenate((self._sample, x))
        self._priority = np.concatenate((self._priority, priority))
        if self._priority.size > SAMPLE:
            best = np.argpartition(self._priority, SAMPLE)[:SAMPLE]
            self._sample, self._priority = self._sample[best], self._priority[best]

    @property
    def exact(self) -> bool:
        return self._exact is not None

    def knots(self) -> np.ndarray:
        """Every value when few (exact), else KNOTS quantiles with the true min and max."""
        import numpy as np

        if self.moments.n == 0:
            return np.empty(0)
        if self._exact is not None:
            return np.unique(np.concatenate(self._exact))
        q = np.quantile(self._sample, np.linspace(0.0, 1.0, KNOTS))
        q[0], q[-1] = self.moments.min, self.moments.max
        span = np.linspace(self.moments.min, self.moments.max, SPAN_KNOTS)
        extra = list(self.distinct.counts) if self.distinct.values is not None else []
        return np.unique(np.concatenate((q, span, np.asarray(extra, dtype="float64"))))


@dataclass
class Binned:
    """Counts of one column over a reference's knots (see the module docstring)."""

    knots: np.ndarray
    eq: np.ndarray = field(default=None)  # type: ignore[assignment]  # values equal to knot i
    open: np.ndarray = field(default=None)  # type: ignore[assignment]  # in interval i: (k[i-1], k[i])
    gap: np.ndarray = field(default=None)  # type: ignore[assignment]  # sum of distances, see above
    moments: Moments = field(default_factory=Moments)
    distinct: Distinct = field(default_factory=Distinct)
    exact: bool = False  # the knots are every value of the reference

    def __post_init__(self) -> None:
        import numpy as np

        u = self.knots.size
        if self.eq is None:
            self.eq = np.zeros(u, dtype="int64")
            self.open = np.zeros(u + 1, dtype="int64")
            self.gap = np.zeros(u + 1, dtype="float64")
        # Sums are taken relative to a centre so large values (timestamps) keep their precision.
        self._centre = float(self.knots[u // 2]) if u else 0.0
        self._upper = np.append(self.knots, self.knots[-1] if u else 0.0) - self._centre

    def update(self, values: np.ndarray) -> None:
        import numpy as np

        x, missing = finite_values(values)
        s = sorted_copy(x)
        self.moments.update_sorted(s, missing)
        self.distinct.update_sorted(s)
        if s.size == 0:
            return
        if self.knots.size == 0:  # an all-missing reference: nothing to count against
            return
        lo = np.searchsorted(s, self.knots, "left")
        hi = np.searchsorted(s, self.knots, "right")
        self.eq += hi - lo
        starts = np.concatenate(([0], hi))
        ends = np.append(lo, s.size)
        inside = ends - starts
        self.open += inside
        cumulative = np.subtract(s, self._centre, out=scratch(s.size, 1))
        np.cumsum(cumulative, out=cumulative)
        sums = _prefix(cumulative, ends) - _prefix(cumulative, starts)
        gap = inside * self._upper - sums
        gap[-1] = -gap[-1]  # the upper tail measures from the last knot upwards
        self.gap += gap

    @property
    def n(self) -> int:
        return self.moments.n

    def cdf_left(self) -> np.ndarray:
        """Share of values below each knot."""
        import numpy as np

        below = np.cumsum(self.open[:-1]) + np.concatenate(([0], np.cumsum(self.eq[:-1])))
        return below / max(self.n, 1)

    def cdf_right(self) -> np.ndarray:
        """Share of values at or below each knot."""
        return self.cdf_left() + self.eq / max(self.n, 1)

    def count_below(self, points: np.ndarray, *, inclusive: bool = False) -> np.ndarray:
        """How many values lie below (or at, `inclusive`) each point.

        Exact at knots and outside the knots' range when the tails are empty; inside an open
        interval the interval's count is spread linearly over its width.
        """
        import numpy as np

        n = self.n
        if self.knots.size == 0:
            return np.zeros(len(points))
        left = self.cdf_left() * n
        right = self.cdf_right() * n
        idx = np.searchsorted(self.knots, points, "right")  # knots[idx-1] <= p < knots[idx]
        result = np.empty(len(points))
        for j, (p, i) in enumerate(zip(np.asarray(points, dtype="float64"), idx, strict=True)):
            if i > 0 and p == self.knots[i - 1]:
                result[j] = right[i - 1] if inclusive else left[i - 1]
                continue
            if i == 0:  # below the first knot: the lower tail, spread up to the first knot
                tail = self.open[0]
                result[j] = 0.0 if tail == 0 else tail * _tail_share(self, 0, p)
                continue
            if i == self.knots.size:
                tail = self.open[-1]
                result[j] = right[-1] + (0.0 if tail == 0 else tail * _tail_share(self, -1, p))
                continue
            a, b = self.knots[i - 1], self.knots[i]
            result[j] = right[i - 1] + self.open[i] * (p - a) / (b - a)
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "exact": self.exact,
            "knots": encode_array(self.knots),
            "eq": encode_array(self.eq),
            "open": encode_array(self.open),
            "gap": encode_array(self.gap),
            "moments": self.moments.to_dict(),
            "distinct": self.distinct.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binned:
        return cls(
            knots=decode_array(data["knots"]),
            eq=decode_array(data["eq"]),
            open=decode_array(data["open"]),
            gap=decode_array(data["gap"]),
            moments=Moments.from_dict(data["moments"]),
            distinct=Distinct.from_dict(data["distinct"]),
            exact=data["exact"],
        )

    def empty_like(self) -> Binned:
        """A fresh count over the same knots (for the current data)."""
        return Binned(self.knots)


def _prefix(cumulative: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sums of the first `positions` values, from their cumulative sum."""
    import numpy as np

    return np.where(positions > 0, cumulative[np.maximum(positions - 1, 0)], 0.0)


def _tail_share(binned: Binned, side: int, point: float) -> float:
    """Share of a tail's values below `point`, assuming they spread evenly from the tail's extreme."""
    m = binned.moments
    if side == 0:
        low, high = m.min, float(binned.knots[0])
        if low is None or high <= low:
            return 0.0
        return min(max((point - low) / (high - low), 0.0), 1.0)
    low, high = float(binned.knots[-1]), m.max
    if high is None or high <= low:
        return 1.0
    return min(max((point - low) / (high - low), 0.0), 1.0)
