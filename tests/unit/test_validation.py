"""The value rule itself (runtime/validation.py): every element type, every kind of bad value."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_cli.runtime.validation import ValueRuleError, check_numbers, from_json, reason


@pytest.mark.parametrize(
    ("values", "dtype", "index", "why"),
    [
        ([1.0, 1e300], "float", (1,), "1e+300 is out of range for FP32"),
        ([1.0, 70000], "float16", (1,), "70000.0 is out of range for FP16"),
        ([[1.0, 2.0], [3.0, None]], "float", (1, 1), "missing value"),
        ([[1.0, "2"]], "double", (0, 1), "'2' is a string, not a number"),
        ([True, 1.0], "float", (0,), "true is a boolean, not a number"),
        ([1, 2.5], "int64", (1,), "2.5 is not an integer"),
        ([0, 256], "uint8", (1,), "256 is out of range for UINT8"),
        ([0, -1], "uint64", (1,), "-1 is out of range for UINT64"),
        ([2**63], "int64", (0,), "9223372036854775808 is out of range for INT64"),
        ([2**64], "uint64", (0,), "18446744073709551616 is out of range for UINT64"),
        ([1, 2], "bool", (0,), "int value 1 is not true or false"),
        (["a", 1], "string", (1,), "int value 1 is not a string"),
    ],
)
def test_bad_json_values_are_named_with_their_position(values, dtype, index, why):
    with pytest.raises(ValueRuleError) as raised:
        from_json(values, dtype)
    assert raised.value.index == index
    assert raised.value.reason == why


def test_good_json_values_keep_their_meaning():
    assert from_json([[1, 2.5], [3, 4]], "float").dtype == np.float32
    assert from_json([1e23], "float").tolist() == [np.float32(1e23)]  # a big integer fits a float
    assert from_json([1.0, 2], "int64").tolist() == [1, 2]
    assert from_json([255, 0], "uint8").dtype == np.uint8
    assert from_json([2**64 - 1], "uint64").tolist() == [2**64 - 1]
    assert from_json([True, False], "bool").tolist() == [True, False]
    assert from_json(["a", "b"], "string").tolist() == ["a", "b"]
    missing = from_json([1.0, None], "float", missing_ok=True)
    assert np.isnan(missing[1])
    with pytest.raises(ValueRuleError, match="out of range"):
        from_json([1e300, None], "float", missing_ok=True)  # missing values, yes; overflow, no


def test_check_numbers_masks_every_bad_value():
    values = np.array([1.0, np.nan, np.inf, 1e300, -2.0])
    cast, bad = check_numbers(values, "float")
    assert cast.dtype == np.float32
    assert bad.tolist() == [False, True, True, True, False]
    assert [reason(values, i, "float") for i in (1, 2, 3)] == [
        "NaN",
        "inf is not a finite number",
        "1e+300 is out of range for FP32",
    ]
    _, lenient = check_numbers(values, "float", missing_ok=True)
    assert lenient.tolist() == [False, False, True, True, False]
    _, none = check_numbers(np.array([1, 2, 3], dtype=np.int64), "double")
    assert none is None
    ints = np.array([-1, 5, 300], dtype=np.int64)
    _, bad = check_numbers(ints, "uint8")
    assert bad.tolist() == [True, False, True]
