"""The parity comparison on its own: tolerances, labels, NaNs and the mismatch rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_cli.convert.parity import compare
from mlops_cli.errors import UsageError


def _compare(native, converted, labels=frozenset(), rate=0.0):
    return compare(native, converted, labels=labels, rtol=1e-4, atol=1e-5, max_mismatch_rate=rate, source="t")


def test_identical_outputs_pass():
    values = np.random.default_rng(0).normal(size=(50, 3))
    report = _compare({"y": values}, {"y": values.astype(np.float32)})
    assert report.passed and report.mismatched_rows == 0
    assert report.outputs[0].max_abs_diff < 1e-6


def test_one_tie_is_accepted_within_the_rate_and_shown():
    native = np.zeros((1000, 1))
    converted = native.copy()
    converted[7] = 0.5  # a row on a split threshold that flipped
    lenient = _compare({"y": native}, {"y": converted}, rate=0.001)
    assert lenient.passed and lenient.mismatched_rows == 1
    assert lenient.worst_rows[0]["row"] == 7 and lenient.worst_rows[0]["abs_diff"] == 0.5
    assert not _compare({"y": native}, {"y": converted}, rate=0.0).passed


def test_labels_compare_by_value_across_dtypes():
    report = _compare(
        {"label": np.array([True, False, True])},
        {"label": np.array([1, 0, 0], dtype=np.int64)},
        labels=frozenset({"label"}),
        rate=0.5,
    )
    assert report.outputs[0].mismatched_rows == 1
    assert report.outputs[0].label_agreement == pytest.approx(2 / 3)
    text = _compare(
        {"label": np.array(["a", "b"], dtype=object)},
        {"label": np.array(["a", "b"], dtype=object)},
        labels=frozenset({"label"}),
    )
    assert text.passed


def test_nan_on_both_sides_agrees_but_on_one_side_does_not():
    native = np.array([[np.nan], [1.0]])
    assert _compare({"y": native}, {"y": native.copy()}).passed
    report = _compare({"y": native}, {"y": np.array([[0.0], [1.0]])})
    assert not report.passed and report.outputs[0].max_abs_diff is None  # infinite, not JSON


def test_shapes_and_names_must_match():
    with pytest.raises(UsageError, match="shape"):
        _compare({"y": np.zeros((4, 2))}, {"y": np.zeros((4, 3))})
    with pytest.raises(UsageError, match="outputs"):
        _compare({"y": np.zeros(4)}, {"z": np.zeros(4)})
