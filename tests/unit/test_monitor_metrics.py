"""Drift statistics against scipy: exact on raw columns, within the stated bounds from sketches."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops_cli.monitor import metrics
from mlops_cli.monitor.categories import Categories
from mlops_cli.monitor.metrics import Raw
from mlops_cli.monitor.sketch import EXACT_LIMIT, Binned, NumericScan


def sketch(reference: np.ndarray, chunk: int = 65_536) -> Binned:
    """A baseline's numeric summary, built in chunks as the two streamed passes do."""
    first = NumericScan()
    for i in range(0, len(reference), chunk):
        first.update(reference[i : i + chunk])
    binned = Binned(first.knots(), exact=first.exact)
    for i in range(0, len(reference), chunk):
        binned.update(reference[i : i + chunk])
    return Binned.from_dict(binned.to_dict())  # as stored and read back


def count(binned: Binned, current: np.ndarray, chunk: int = 65_536) -> Binned:
    side = binned.empty_like()
    for i in range(0, len(current), chunk):
        side.update(current[i : i + chunk])
    return side


def scipy_wasserstein(reference, current) -> float:
    return stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)


# --- exact, with --reference -------------------------------------------------------------------


@pytest.mark.parametrize("n, m", [(300, 500), (5_000, 20_000)])
def test_raw_ks_and_wasserstein_equal_scipy(n, m):
    rng = np.random.default_rng(n)
    reference, current = rng.normal(0, 1, n), rng.normal(0.1, 1.2, m)
    d, p = metrics.ks(Raw.of(reference), Raw.of(current))
    expected = stats.ks_2samp(reference, current)
    assert d == expected.statistic and p == expected.pvalue
    assert metrics.wasserstein_norm(Raw.of(reference), Raw.of(current)) == scipy_wasserstein(
        reference, current
    )


@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_raw_statistics_equal_scipy_with_ties(decimals):
    """One sort per column, merged: equal values on both sides must give scipy's figures exactly."""
    rng = np.random.default_rng(decimals)
    reference = np.round(rng.normal(0, 1, 30_000), decimals)
    current = np.round(rng.normal(0.05, 1.1, 20_000), decimals)
    d, p = metrics.ks(Raw.of(reference.copy()), Raw.of(current.copy()))
    expected = stats.ks_2samp(reference, current)
    assert d == expected.statistic and p == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)
    ours = metrics.wasserstein_norm(Raw.of(reference.copy()), Raw.of(current.copy()))
    assert ours == pytest.approx(scipy_wasserstein(reference, current), rel=1e-12)
    constant = Raw.of(np.full(500, 2.0))
    assert metrics.ks(constant, Raw.of(np.full(700, 2.0)))[0] == 0.0


def test_raw_per_value_bins_when_only_the_reference_has_few_values():
    """Evidently bins by value when the reference has <= 20 values, however many the current has."""
    rng = np.random.default_rng(3)
    reference, current = rng.integers(0, 5, 2_000).astype(float), rng.normal(2, 1, 1_500)
    ref_share, cur_share = metrics.numeric_shares(Raw.of(reference.copy()), Raw.of(current.copy()))
    keys = sorted(set(reference) | set(current))
    expected_ref = np.array([np.count_nonzero(reference == k) / reference.size for k in keys])
    expected_cur = np.array([np.count_nonzero(current == k) / current.size for k in keys])
    np.testing.assert_array_equal(np.sort(ref_share), np.sort(expected_ref))
    np.testing.assert_array_equal(np.sort(cur_share), np.sort(expected_cur))


def test_raw_jensenshannon_and_psi_on_evidently_bins():
    rng = np.random.default_rng(3)
    reference, current = rng.gamma(2, 1, 4_000), rng.gamma(2.4, 1, 3_000)
    ref_share, cur_share = metrics.numeric_shares(Raw.of(reference), Raw.of(current))
    # Evidently's get_binned_data: Sturges bins over both samples together.
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    expected_ref = np.histogram(reference, edges)[0] / len(reference)
    expected_cur = np.histogram(current, edges)[0] / len(current)
    np.testing.assert_array_equal(ref_share, expected_ref)
    np.testing.assert_array_equal(cur_share, expected_cur)
    assert metrics.jensenshannon(ref_share, cur_share) == jensenshannon(
        expected_ref, expected_cur
    )  # natural log, as Evidently
    filled_ref = np.where(expected_ref == 0, 0.0001, expected_ref)
    filled_cur = np.where(expected_cur == 0, 0.0001, expected_cur)
    assert metrics.psi(ref_share, cur_share) == pytest.approx(
        np.sum((filled_ref - filled_cur) * np.log(filled_ref / filled_cur)), rel=1e-12
    )


def test_chi_square_equals_scipy_over_the_union_of_categories():
    reference = {"a": 500, "b": 300, "c": 200}
    current = {"a": 100, "b": 150, "d": 10}
    statistic, p = metrics.chi2(reference, current)
    keys = ["a", "b", "c", "d"]
    m, n = sum(current.values()), sum(reference.values())
    with np.errstate(divide="ignore"):
        expected = stats.chisquare(
            [current.get(k, 0) for k in keys], [reference.get(k, 0) * m / n for k in keys]
        )
    assert (statistic, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))


def test_z_test_matches_the_two_proportion_formula():
    z, p = metrics.z_test({"x": 600, "y": 400}, {"x": 450, "y": 550})
    p1, p2, pooled = 0.6, 0.45, (600 + 450) / 2000
    expected = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1000))
    assert z == pytest.approx(expected) and p == pytest.approx(2 * (1 - stats.norm.cdf(abs(expected))))


# --- from a stored baseline ------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, m, shift, scale",
    [
        (10_500, 10_000, 0.0, 1.0),  # no drift
        (20_000, 50_000, 0.1, 1.0),
        (50_000, 20_000, 0.5, 1.0),
        (100_000, 200_000, 0.0, 1.3),
        (200_000, 100_000, 0.02, 1.0),
    ],
)
def test_sketch_within_bounds_of_scipy(n, m, shift, scale):
    rng = np.random.default_rng(n + m)
    reference, current = rng.normal(5, 2, n), rng.normal(5 + 2 * shift, 2 * scale, m)
    binned = sketch(reference)
    assert not binned.exact
    current_side = count(binned, current)
    d, _ = metrics.ks(binned, current_side)
    assert abs(d - stats.ks_2samp(reference, current).statistic) <= 0.002
    w = metrics.wasserstein_norm(binned, current_side)
    assert w == pytest.approx(scipy_wasserstein(reference, current), rel=0.01)


def test_sketch_of_skewed_and_discrete_data():
    rng = np.random.default_rng(7)
    reference, current = rng.lognormal(0, 1, 30_000), rng.lognormal(0.1, 1, 30_000)
    binned = sketch(reference)
    side = count(binned, current)
    assert abs(metrics.ks(binned, side)[0] - stats.ks_2samp(reference, current).statistic) <= 0.002
    assert metrics.wasserstein_norm(binned, side) == pytest.approx(
        scipy_wasserstein(reference, current), rel=0.01
    )
    reference, current = rng.integers(0, 40, 30_000).astype(float), rng.integers(0, 45, 30_000).astype(float)
    binned = sketch(reference)
    side = count(binned, current)
    assert metrics.ks(binned, side)[0] == pytest.approx(
        stats.ks_2samp(reference, current).statistic, abs=1e-12
    )
    assert metrics.wasserstein_norm(binned, side) == pytest.approx(
        scipy_wasserstein(reference, current), rel=1e-9
    )


def test_small_reference_is_stored_exactly_and_ks_is_exact():
    rng = np.random.default_rng(11)
    reference, current = rng.normal(0, 1, 800), rng.normal(0.2, 1, 1_500)
    binned = sketch(reference)
    assert binned.exact and binned.knots.size == 800 and EXACT_LIMIT >= 800
    d, p = metrics.ks(binned, count(binned, current))
    expected = stats.ks_2samp(reference, current)
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_large_samples_p_value_uses_the_asymptotic_distribution():
    rng = np.random.default_rng(12)
    reference, current = rng.normal(0, 1, 30_000), rng.normal(0.02, 1, 40_000)
    expected = stats.ks_2samp(reference, current)
    assert metrics.ks_result(expected.statistic, 30_000, 40_000)[1] == pytest.approx(
        expected.pvalue, rel=1e-9
    )


def test_missing_and_infinite_values_are_counted_apart():
    values = np.array([1.0, np.nan, 2.0, np.inf, 3.0])
    binned = sketch(values)
    assert binned.n == 3 and binned.moments.missing == 2
    assert binned.moments.missing_rate == pytest.approx(0.4)


def test_categories_count_nulls_and_cap_nothing_small():
    import pyarrow as pa

    side = Categories()
    side.update(pa.array(["a", None, "b", "a"]))
    side.update(pa.array(["c", "a"]))
    assert side.counts == {"a": 3, "b": 1, "c": 1} and side.missing == 1
    assert Categories.from_dict(side.to_dict()).counts == side.counts


@pytest.mark.parametrize(
    "kind, rows, n_values, expected",
    [
        ("numeric", 1_000, 6, "ks"),
        ("numeric", 1_000, 5, "chi2"),
        ("numeric", 1_000, 2, "z"),
        ("numeric", 1_001, 6, "wasserstein"),
        ("numeric", 1_001, 5, "jensenshannon"),
        ("categorical", 1_000, 3, "chi2"),
        ("categorical", 1_000, 2, "z"),
        ("categorical", 1_001, 50, "jensenshannon"),
    ],
)
def test_auto_follows_evidently_rules(kind, rows, n_values, expected):
    assert metrics.auto_metric(kind, rows, n_values) == expected


def test_p_value_metrics_drift_below_threshold_and_distances_at_or_above():
    assert metrics.verdict("ks", 0.3, 0.01, 0.05) and not metrics.verdict("ks", 0.3, 0.2, 0.05)
    assert metrics.verdict("wasserstein", 0.1, None, 0.1) and not metrics.verdict(
        "wasserstein", 0.09, None, 0.1
    )
