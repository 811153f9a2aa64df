"""Drift metrics, chosen and computed as Evidently does, from raw columns or from sketches.

Evidently's `auto` rules (`_get_default_stattest`; n_values = distinct values of reference and
current together):
- reference <= 1,000 rows: numeric -> KS (n_values > 5), chi-square (3-5), two-proportion z-test
  (<= 2); categorical -> chi-square (n_values > 2), z-test (<= 2). These give p-values: drift
  when p < threshold (default 0.05; p <= threshold for KS, as Evidently's `_ks_stat_test`).
- reference > 1,000 rows: numeric -> Wasserstein distance / max(std(reference), 0.001)
  (n_values > 5), else Jensen-Shannon; categorical -> Jensen-Shannon. Drift when the score >=
  threshold (default 0.1). PSI also defaults to 0.1.

Binning for PSI and Jensen-Shannon (Evidently's `get_binned_data`): a numeric column whose
reference has more than 20 distinct values gets `np.histogram_bin_edges(reference + current,
bins="sturges")`; otherwise every distinct value of either side is a bin. PSI replaces empty
bins by 0.0001 (or min/1e6 when the smallest share is below 0.0001); Jensen-Shannon does not.
Jensen-Shannon is scipy's `jensenshannon(ref, cur)` with its default base (the natural log), as
Evidently calls it; chi-square is scipy's
`chisquare(current counts, reference counts * m / n)` over the union of categories.

`Raw` columns (with `--reference`) are sorted once and KS and Wasserstein use scipy's arithmetic
on one merge of the two (the results equal scipy's, see the tests); a `Binned` reference (a
stored baseline) uses the sketch's bounds (see `sketch.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from mlops_cli.errors import UsageError
from mlops_cli.monitor.categories import Categories
from mlops_cli.monitor.sketch import DISTINCT_LIMIT, Binned, Distinct, Moments

if TYPE_CHECKING:
    import numpy as np

METRICS = ("auto", "ks", "wasserstein", "psi", "jensenshannon", "chi2")
P_VALUE = {"ks", "chi2", "z"}
DEFAULT_THRESHOLD = {
    "ks": 0.05,
    "chi2": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "jensenshannon": 0.1,
}
NUMERIC_ONLY = {"ks", "wasserstein"}
CATEGORICAL_ONLY = {"chi2"}
SMALL_REFERENCE = 1_000
STD_FLOOR = 0.001


@dataclass
class Raw:
    """A whole numeric column in memory (sorted, finite values): exact statistics.

    The column is sorted once; KS, Wasserstein, the histograms and the distinct values all read
    that one sorted array (scipy's functions would sort it again for each statistic).
    """

    values: np.ndarray
    moments: Moments
    missing: int
    distinct: Distinct

    @classmethod
    def of(cls, values: np.ndarray) -> Raw:
        """The column's finite values, sorted in place (`values` is consumed)."""
        from mlops_cli.monitor.sketch import finite_values

        x, missing = finite_values(values)
        x.sort()
        moments = Moments()
        moments.update_sorted(x, missing)
        distinct = Distinct()
        distinct.update_sorted(x)
        return cls(x, moments, missing, distinct)

    @property
    def n(self) -> int:
        return int(self.values.size)

    def value_counts(self) -> dict[float, int]:
        """Every distinct value and its count (run lengths of the sorted values)."""
        import numpy as np

        if self.distinct.values is not None:
            return dict(self.distinct.values)
        s = self.values
        starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        sizes = np.diff(np.append(starts, s.size))
        return dict(zip(s[starts].tolist(), sizes.tolist(), strict=True))


Numeric = Union[Raw, Binned]


@dataclass
class Score:
    metric: str
    score: float | None
    p_value: float | None
    threshold: float
    drift: bool


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"choose one of {', '.join(METRICS)}")
    return metric


def threshold_for(metric: str, threshold: float | None) -> float:
    return DEFAULT_THRESHOLD[metric] if threshold is None else threshold


def verdict(metric: str, score: float | None, p_value: float | None, threshold: float) -> bool:
    """Evidently's verdicts: KS drifts at p <= threshold, chi-square and z at p < threshold,
    distances at score >= threshold."""
    if metric in P_VALUE:
        if p_value is None or math.isnan(p_value):
            return False
        return p_value <= threshold if metric == "ks" else p_value < threshold
    return score is not None and not math.isnan(score) and score >= threshold


def _distinct(side: Numeric) -> dict[float, int] | None:
    return side.distinct.values


def numeric_n_values(ref: Numeric, cur: Numeric) -> int:
    """Distinct values of both sides together; DISTINCT_LIMIT + 1 stands for 'more'."""
    a, b = _distinct(ref), _distinct(cur)
    if a is None or b is None:
        return DISTINCT_LIMIT + 1
    return len(set(a) | set(b))


def auto_metric(kind: str, ref_rows: int, n_values: int) -> str:
    """Evidently's `_get_default_stattest` (see the module docstring)."""
    if ref_rows <= SMALL_REFERENCE:
        if kind == "numeric" and n_values > 5:
            return "ks"
        return "chi2" if n_values > 2 else "z"
    if kind == "numeric" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def resolve_metric(requested: str, kind: str, ref_rows: int, n_values: int) -> tuple[str, str | None]:
    """The metric for a column and, when `requested` does not apply to it, why auto was used."""
    auto = auto_metric(kind, ref_rows, n_values)
    if requested == "auto":
        return auto, None
    if requested in NUMERIC_ONLY and kind != "numeric":
        return auto, f"{requested} applies to numeric columns only; used {auto}"
    if requested in CATEGORICAL_ONLY and kind != "categorical" and n_values > DISTINCT_LIMIT:
        return auto, f"{requested} applies to categorical columns only; used {auto}"
    return requested, None


# --- numeric ----------------------------------------------------------------------------------


def numeric_score(metric: str, ref: Numeric, cur: Numeric, threshold: float | None) -> Score:
    thr = threshold_for(metric, threshold)
    p_value: float | None = None
    if metric == "ks":
        score, p_value = ks(ref, cur)
    elif metric == "wasserstein":
        score = wasserstein_norm(ref, cur)
    elif metric in ("psi", "jensenshannon"):
        ref_share, cur_share = numeric_shares(ref, cur)
        score = psi(ref_share, cur_share) if metric == "psi" else jensenshannon(ref_share, cur_share)
    else:  # chi2 and z on a numeric column with few values: per-value counts
        ref_counts, cur_counts = numeric_value_counts(ref, cur)
        score, p_value = (chi2 if metric == "chi2" else z_test)(ref_counts, cur_counts)
    return Score(metric, score, p_value, thr, verdict(metric, score, p_value, thr))


def ks(ref: Numeric, cur: Numeric) -> tuple[float, float]:
    """KS statistic and p-value as scipy's `ks_2samp` gives them (exact from raw columns), else
    from the knots."""
    import numpy as np

    if isinstance(ref, Raw) and isinstance(cur, Raw):
        count_a, count_b, merged = _merged_cdfs(ref.values, cur.values)
        run_ends = np.append(merged[1:] != merged[:-1], True)
        d = float(np.max(np.abs(count_a[run_ends] / ref.n - count_b[run_ends] / cur.n)))
        return ks_result(d, ref.n, cur.n)
    assert isinstance(ref, Binned) and isinstance(cur, Binned)
    d = float(
        max(
            np.max(np.abs(ref.cdf_left() - cur.cdf_left()), initial=0.0),
            np.max(np.abs(ref.cdf_right() - cur.cdf_right()), initial=0.0),
        )
    )
    return ks_result(d, ref.n, cur.n)


def _merged_cdfs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sorted samples merged, and each one's count of values at or before every position.

    Where a position is the last of a run of equal values, the counts are scipy's
    `searchsorted(sample, value, "right")` (what `ks_2samp` and `wasserstein_distance` divide by
    the sample's size); inside a run they are partial, which a Wasserstein step of width zero
    ignores and KS skips. A stable sort of the two sorted runs is a linear merge (scipy sorts
    both samples again and binary-searches every value of both in both).
    """
    import numpy as np

    n, m = a.size, b.size
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")
    merged = both[order]
    count_a = np.cumsum(order < n, dtype=np.int64)
    count_b = np.arange(1, n + m + 1, dtype=np.int64)
    np.subtract(count_b, count_a, out=count_b)
    return count_a, count_b, merged


def ks_result(d: float, n1: int, n2: int) -> tuple[float, float]:
    """(statistic, two-sided p-value) as `ks_2samp(method='auto')` gives them for statistic d
    and sizes n1, n2 (its exact method reports the statistic it rounded to a lattice point)."""
    import numpy as np
    from scipy.stats import distributions

    if max(n1, n2) <= 10_000:
        try:
            from scipy.stats._stats_py import _attempt_exact_2kssamp

            success, exact_d, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if success:
                return float(exact_d), float(np.clip(prob, 0, 1))
        except (ImportError, TypeError):  # a scipy without the private helper: asymptotic
            pass
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return d, float(np.clip(distributions.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def wasserstein_norm(ref: Numeric, cur: Numeric) -> float:
    """Wasserstein-1 distance divided by max(std(reference), 0.001)."""
    if isinstance(ref, Raw) and isinstance(cur, Raw):
        import numpy as np

        count_a, count_b, merged = _merged_cdfs(ref.values, cur.values)
        steps = np.divide(count_a[:-1], ref.n)
        np.subtract(steps, np.divide(count_b[:-1], cur.n), out=steps)
        np.abs(steps, out=steps)
        distance = float(np.vecdot(steps, np.diff(merged)))  # as scipy's _cdf_distance sums
        return distance / max(ref.moments.std, STD_FLOOR)
    norm = max(ref.moments.std, STD_FLOOR)
    assert isinstance(ref, Binned) and isinstance(cur, Binned)
    return binned_wasserstein(ref, cur) / norm


def binned_wasserstein(ref: Binned, cur: Binned) -> float:
    """The integral of |F - G| from two counts over the same knots.

    On each open interval (a, b) the integral of a CDF is `F(a) (b - a) + gap / n` exactly, so
    where F and G do not cross inside the interval |F - G| integrates to the difference of the
    two integrals.
    """
    import numpy as np

    k = ref.knots
    if k.size == 0 or ref.n == 0 or cur.n == 0:
        return float("nan")
    n, m = ref.n, cur.n
    f_right, g_right = ref.cdf_right(), cur.cdf_right()
    f_left_next, g_left_next = ref.cdf_left()[1:], cur.cdf_left()[1:]
    width = np.diff(k)
    # Interior intervals 1..U-1: (k[i-1], k[i]).
    int_f = f_right[:-1] * width + ref.gap[1:-1] / n
    int_g = g_right[:-1] * width + cur.gap[1:-1] / m
    difference = int_f - int_g  # the exact integral of F - G over each interval
    da = f_right[:-1] - g_right[:-1]  # F - G just above the interval's lower knot
    db = f_left_next - g_left_next  # and just below its upper knot
    # Where F - G keeps its sign at both ends, |F - G| integrates to |difference| (exact unless
    # the curves cross twice inside). Where the sign flips, F - G is taken as linear between
    # the ends, shifted so that its integral stays the exact difference.
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = difference / width - (da + db) / 2
        sa, sb = da + shift, db + shift
        crossing = (sa * sb) < 0
        split = width * (sa * sa + sb * sb) / (2 * np.abs(sa - sb))
    interior = np.where((da * db < 0) & crossing, split, np.abs(difference))
    # Tails: below the first knot F and G are the shares there; above the last, 1 - F and 1 - G.
    low = abs(ref.gap[0] / n - cur.gap[0] / m) if ref.open[0] == 0 or cur.open[0] == 0 else _tail(ref, cur, 0)
    high = (
        abs(ref.gap[-1] / n - cur.gap[-1] / m)
        if ref.open[-1] == 0 or cur.open[-1] == 0
        else _tail(ref, cur, -1)
    )
    return float(np.nansum(interior) + low + high)


def _tail(ref: Binned, cur: Binned, side: int) -> float:
    # Both sides have values beyond the reference's own knots (only when the knots came from
    # another sample): bounded by the sum of both, the difference is the best estimate.
    return abs(ref.gap[side] / ref.n - cur.gap[side] / cur.n)


def numeric_value_counts(ref: Numeric, cur: Numeric) -> tuple[dict[Any, float], dict[Any, float]]:
    """Counts per distinct value; values a sketch cannot tell apart are counted together."""
    if isinstance(ref, Raw) and isinstance(cur, Raw):
        return ref.value_counts(), cur.value_counts()
    a, b = _distinct(ref), _distinct(cur)
    if a is not None and b is not None:
        return dict(a), dict(b)
    # A sketch whose current side has many values: the knots' counts are exact, the rest lumped.
    assert isinstance(ref, Binned) and isinstance(cur, Binned)
    ref_counts = {float(k): int(c) for k, c in zip(ref.knots, ref.eq, strict=True) if c}
    cur_counts = {float(k): int(c) for k, c in zip(cur.knots, cur.eq, strict=True) if c}
    other = int(cur.open.sum())
    if other:
        cur_counts["other values"] = other
    return ref_counts, cur_counts


def sturges_edges(n_total: int, low: float, high: float) -> np.ndarray:
    """`np.histogram_bin_edges(data, bins="sturges")` from the data's size, min and max."""
    import numpy as np

    if low == high:
        low, high = low - 0.5, high + 0.5
        return np.linspace(low, high, 2)
    width = (high - low) / (np.log2(n_total) + 1.0)
    bins = int(np.ceil((high - low) / width))
    return np.linspace(low, high, bins + 1)


def histogram(side: Numeric, edges: np.ndarray) -> np.ndarray:
    """Counts per bin as `np.histogram` gives them (the last bin includes its right edge)."""
    import numpy as np

    if isinstance(side, Raw):  # sorted: where the edges fall, as np.histogram bins
        below = np.searchsorted(side.values, edges[:-1], "left")
        top = np.searchsorted(side.values, edges[-1:], "right")
        return np.diff(np.append(below, top)).astype("float64")
    below = side.count_below(edges[:-1])
    top = side.count_below(edges[-1:], inclusive=True)
    return np.diff(np.append(below, top))


def numeric_shares(ref: Numeric, cur: Numeric) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's bins for PSI and Jensen-Shannon, as shares of each side's rows."""

    ref_distinct = _distinct(ref)
    if ref_distinct is not None and len(ref_distinct) <= 20:
        ref_counts, cur_counts = numeric_value_counts(ref, cur)
        return category_shares(ref_counts, cur_counts)
    low = min(ref.moments.min, cur.moments.min)  # type: ignore[type-var]
    high = max(ref.moments.max, cur.moments.max)  # type: ignore[type-var]
    edges = sturges_edges(ref.n + cur.n, float(low), float(high))
    return histogram(ref, edges) / ref.n, histogram(cur, edges) / cur.n


# --- categorical ------------------------------------------------------------------------------


def category_shares(ref: dict[Any, float], cur: dict[Any, float]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    keys = sorted(set(ref) | set(cur), key=str)
    n, m = sum(ref.values()), sum(cur.values())
    return (
        np.array([ref.get(k, 0) / n for k in keys], dtype="float64"),
        np.array([cur.get(k, 0) / m for k in keys], dtype="float64"),
    )


def categorical_score(metric: str, ref: Categories, cur: Categories, threshold: float | None) -> Score:
    thr = threshold_for(metric, threshold)
    p_value: float | None = None
    if metric == "chi2":
        score, p_value = chi2(ref.counts, cur.counts)
    elif metric == "z":
        score, p_value = z_test(ref.counts, cur.counts)
    else:
        ref_share, cur_share = category_shares(ref.counts, cur.counts)
        score = psi(ref_share, cur_share) if metric == "psi" else jensenshannon(ref_share, cur_share)
    return Score(metric, score, p_value, thr, verdict(metric, score, p_value, thr))


def chi2(ref: dict[Any, float], cur: dict[Any, float]) -> tuple[float, float]:
    """scipy's chisquare of the current counts against the reference's, scaled to the same total."""
    import numpy as np
    from scipy.stats import chisquare

    keys = sorted(set(ref) | set(cur), key=str)
    n, m = sum(ref.values()), sum(cur.values())
    expected = np.array([ref.get(k, 0) * m / n for k in keys], dtype="float64")
    observed = np.array([cur.get(k, 0) for k in keys], dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic, p_value = chisquare(observed, expected)
    return float(statistic), float(p_value)


def z_test(ref: dict[Any, float], cur: dict[Any, float]) -> tuple[float, float]:
    """Evidently's two-proportion z-test on one of (at most) two categories."""
    from scipy.stats import norm

    keys = sorted(set(ref) | set(cur), key=str)
    if len(keys) <= 1:
        return 0.0, 1.0
    key = keys[0]
    n, m = sum(ref.values()), sum(cur.values())
    p1, p2 = ref.get(key, 0) / n, cur.get(key, 0) / m
    pooled = (p1 * n + p2 * m) / (n + m)
    denominator = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    if denominator == 0:
        return 0.0, 1.0
    z = (p1 - p2) / denominator
    return float(z), float(2 * (1 - norm.cdf(abs(z))))


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Population stability index with Evidently's replacement of empty bins."""
    import numpy as np

    ref_share, cur_share = _fill_zeroes(ref_share), _fill_zeroes(cur_share)
    return float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))


def _fill_zeroes(share: np.ndarray) -> np.ndarray:

    share = share.copy()
    nonzero = share[share != 0]
    if nonzero.size == 0:
        return share
    smallest = nonzero.min()
    share[share == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return share


def jensenshannon(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    from scipy.spatial.distance import jensenshannon as js

    return float(js(ref_share, cur_share))
