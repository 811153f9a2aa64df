"""v2 tensors in JSON: every datatype both ways, and each malformed tensor a 400 naming it."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_cli.serving.codec import DATATYPES, TensorSpec, datatype_of, decode_tensor, encode_tensor
from mlops_cli.serving.errors import HTTPError

SAMPLES = {
    "BOOL": [True, False, True, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 2, 65535],
    "UINT32": [0, 1, 2, 4294967295],
    "UINT64": [0, 1, 2, 3],
    "INT8": [-128, 0, 1, 127],
    "INT16": [-1, 0, 1, 2],
    "INT32": [-1, 0, 1, 2],
    "INT64": [-(2**40), 0, 1, 2**40],
    "FP16": [0.5, 1.0, -2.0, 0.25],
    "FP32": [0.5, 1.5, -2.0, 3.25],
    "FP64": [0.1, 1e-300, -2.0, 3.0],
    "BYTES": ["a", "bé", "", "d"],
}


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
def test_every_datatype_round_trips(datatype):
    spec = TensorSpec("x", datatype, (-1, 2))
    array = decode_tensor(
        spec, {"name": "x", "shape": [2, 2], "datatype": datatype, "data": SAMPLES[datatype]}
    )
    assert array.shape == (2, 2)
    assert datatype_of(array) == datatype
    encoded = encode_tensor("y", array)
    assert encoded["datatype"] == datatype and encoded["shape"] == [2, 2]
    assert list(np.asarray(encoded["data"]).tolist()) == SAMPLES[datatype]


def test_nested_data_is_accepted():
    spec = TensorSpec("x", "FP32", (-1, 2))
    array = decode_tensor(spec, {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]})
    assert array.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    ("tensor", "words"),
    [
        ({"shape": [1, 2], "datatype": "FP64", "data": [1, 2]}, "datatype 'FP64' but the model expects FP32"),
        (
            {"shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            "shape [1, 3] but the model expects [-1, 2]",
        ),
        ({"shape": [1, 2, 1], "datatype": "FP32", "data": [1, 2]}, "shape"),
        ({"shape": [2, 2], "datatype": "FP32", "data": [1, 2]}, "needs 4 values but data has 2"),
        (
            {"shape": [1, 2], "datatype": "FP32", "data": ["a", "b"]},
            "(FP32), row 1: 'a' is a string, not a number",
        ),
        ({"shape": [1, 2], "datatype": "FP32"}, "lacks data"),
        ({"shape": "1,2", "datatype": "FP32", "data": [1, 2]}, "non-negative integers"),
        ({"shape": [1, 2], "datatype": "FP32", "data": 3}, "must be a list"),
        ("x", "must be an object"),
    ],
)
def test_bad_tensors_are_400(tensor, words):
    spec = TensorSpec("x", "FP32", (-1, 2))
    with pytest.raises(HTTPError) as raised:
        decode_tensor(spec, tensor)
    assert raised.value.status == 400 and words in raised.value.message


def test_out_of_range_integers_and_non_strings_are_400():
    with pytest.raises(HTTPError):
        decode_tensor(TensorSpec("x", "UINT8", (-1,)), {"shape": [1], "datatype": "UINT8", "data": [300]})
    with pytest.raises(HTTPError):
        decode_tensor(TensorSpec("x", "BYTES", (-1,)), {"shape": [1], "datatype": "BYTES", "data": [1]})
    with pytest.raises(HTTPError):
        decode_tensor(TensorSpec("x", "BOOL", (-1,)), {"shape": [1], "datatype": "BOOL", "data": [2.5]})


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
def test_every_datatype_round_trips_as_binary(datatype):
    from mlops_cli.serving.codec import decode_binary, encode_binary

    spec = TensorSpec("x", datatype, (-1, 2))
    array = decode_tensor(
        spec, {"name": "x", "shape": [2, 2], "datatype": datatype, "data": SAMPLES[datatype]}
    )
    entry, data = encode_binary("x", array)
    assert entry["parameters"]["binary_data_size"] == len(data)
    back = decode_binary(spec, {"shape": [2, 2], "datatype": datatype}, data)
    assert back.tolist() == array.tolist()
