"""Open Inference Protocol v2 tensors in their JSON form, to and from numpy arrays.

The datatype names are the protocol's (BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64,
BYTES); the model's own element types come from onnxruntime's `tensor(...)` strings. Every
problem with a request tensor is a 400 that names the input and says what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_cli.runtime.validation import ValueRuleError, check_numbers, from_json, reason
from mlops_cli.serving.errors import HTTPError

# onnxruntime element type -> (v2 datatype, numpy dtype)
ORT_TYPES: dict[str, tuple[str, Any]] = {
    "tensor(bool)": ("BOOL", np.bool_),
    "tensor(uint8)": ("UINT8", np.uint8),
    "tensor(uint16)": ("UINT16", np.uint16),
    "tensor(uint32)": ("UINT32", np.uint32),
    "tensor(uint64)": ("UINT64", np.uint64),
    "tensor(int8)": ("INT8", np.int8),
    "tensor(int16)": ("INT16", np.int16),
    "tensor(int32)": ("INT32", np.int32),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(float16)": ("FP16", np.float16),
    "tensor(float)": ("FP32", np.float32),
    "tensor(double)": ("FP64", np.float64),
    "tensor(string)": ("BYTES", np.object_),
}
DATATYPES = {name: dtype for name, dtype in ORT_TYPES.values()}
# v2 datatype -> the element type as signatures spell it (what runtime.validation speaks).
ELEMENT_TYPES = {name: ort[len("tensor(") : -1] for ort, (name, _) in ORT_TYPES.items()}
_NUMPY_TO_V2 = {np.dtype(dtype).str: name for name, dtype in DATATYPES.items() if dtype is not np.object_}


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: its name, v2 datatype and shape (-1 for a free dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...] | None

    @property
    def dtype(self) -> Any:
        return DATATYPES[self.datatype]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape or [-1])}


def spec_from_ort(node: Any) -> TensorSpec:
    """A TensorSpec from an onnxruntime NodeArg (symbolic and unknown dimensions become -1)."""
    datatype = ORT_TYPES.get(node.type, (node.type, None))[0]
    shape = None
    if node.shape is not None:
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    return TensorSpec(node.name, datatype, shape)


# Native-order dtypes by number: a lookup on every output of every response (dtype.str builds
# a new string per call, five times the cost).
_V2_BY_NUM = {np.dtype(dtype).num: name for name, dtype in DATATYPES.items() if dtype is not np.object_}


def datatype_of(array: np.ndarray) -> str:
    """The v2 datatype for a numpy array; strings and objects are BYTES."""
    dtype = array.dtype
    if dtype.isnative:
        found = _V2_BY_NUM.get(dtype.num)
        if found is not None:
            return found
    if dtype.kind in "OUS":
        return "BYTES"
    return _NUMPY_TO_V2.get(dtype.str, "BYTES")


def decode_tensor(spec: TensorSpec, tensor: Any, missing_ok: bool = False) -> np.ndarray:
    """The numpy array for one request tensor, checked against the model's input `spec` and
    the one value rule (`runtime.validation`; `missing_ok`: the model takes NaN/null)."""
    name = spec.name
    if not isinstance(tensor, dict):
        raise HTTPError(400, f"input {name!r} must be an object with name, shape, datatype and data")
    datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
    if datatype is None or shape is None or data is None:
        missing = [k for k in ("shape", "datatype", "data") if tensor.get(k) is None]
        raise HTTPError(400, f"input {name!r} lacks {', '.join(missing)}")
    if datatype != spec.datatype:
        raise HTTPError(
            400, f"input {name!r} has datatype {datatype!r} but the model expects {spec.datatype}"
        )
    _check_dims(name, shape)
    check_shape(spec, shape)
    if not isinstance(data, list):
        raise HTTPError(400, f"input {name!r}: data must be a list")
    array = to_array(name, data, spec.datatype, missing_ok=missing_ok, shape=shape)
    size = math.prod(shape)
    if array.size != size:
        raise HTTPError(400, f"input {name!r}: shape {shape} needs {size} values but data has {array.size}")
    return array.reshape(shape)


def _check_dims(name: str, shape: Any) -> None:
    """A 400 unless a request's shape is a list of non-negative integers (a loop: no generator
    on the request path)."""
    if type(shape) is list:
        for d in shape:
            if type(d) is not int or d < 0:
                break
        else:
            return
    raise HTTPError(400, f"input {name!r}: shape must be a list of non-negative integers, got {shape!r}")


def check_shape(spec: TensorSpec, shape: tuple[int, ...] | list[int]) -> None:
    """A 400 unless `shape` fits the model's shape (same rank, fixed dimensions equal)."""
    expected = spec.shape
    if expected is None:
        return
    fits = len(shape) == len(expected)
    if fits:
        for e, d in zip(expected, shape, strict=True):
            if e >= 0 and e != d:
                fits = False
                break
    if not fits:
        wanted = "[" + ", ".join("-1" if e < 0 else str(e) for e in expected) + "]"
        raise HTTPError(400, f"input {spec.name!r} has shape {list(shape)} but the model expects {wanted}")


def to_array(
    name: str, data: list, datatype: str, *, missing_ok: bool = False, shape: list[int] | None = None
) -> np.ndarray:
    """Flat or nested JSON values as a flat numpy array of the datatype, or a 400 naming the
    first value that breaks the rule (and its row, when the tensor's `shape` is known)."""
    try:
        array = from_json(data, ELEMENT_TYPES[datatype], missing_ok=missing_ok)
    except ValueRuleError as exc:
        where = _position(data, exc.index, shape)
        raise HTTPError(400, f"input {name!r} ({datatype}){where}: {exc.reason}") from None
    return array.ravel()


def check_binary(name: str, array: np.ndarray, datatype: str, missing_ok: bool, shape: list[int]) -> None:
    """Raw floats can hold NaN and inf too: the same rule as JSON data."""
    if array.dtype.kind != "f":
        return
    _, bad = check_numbers(array, ELEMENT_TYPES[datatype], missing_ok=missing_ok)
    if bad is not None:
        index = int(bad.argmax())
        row = f", row {index // max(math.prod(shape[1:]), 1) + 1}" if len(shape) > 1 else ""
        problem = reason(array, index, ELEMENT_TYPES[datatype])
        raise HTTPError(400, f"input {name!r} ({datatype}){row}: {problem}")


def _position(data: list, index: tuple[int, ...], shape: list[int] | None) -> str:
    """ ", row R" for the value at `index` of the (flat or nested) data, when rows are known."""
    if not index or not shape or len(shape) < 2:
        return ""
    if len(index) == 1:  # flat data: row-major over the tensor's shape
        return f", row {index[0] // max(math.prod(shape[1:]), 1) + 1}"
    return f", row {index[0] + 1}"


def encode_tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    """The JSON form of an output tensor; data flattened in row-major order."""
    if type(array) is not np.ndarray:
        array = np.asarray(array)
    datatype = datatype_of(array)
    if datatype == "BYTES":
        data: Any = [v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel()]
    else:
        data = array.ravel()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


# --- the binary tensor data extension (Triton's; tritonclient sends inputs this way by default)


def decode_binary(spec: TensorSpec, tensor: dict, chunk: bytes, missing_ok: bool = False) -> np.ndarray:
    """A request tensor whose data came as `binary_data_size` raw bytes after the JSON."""
    name = spec.name
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    if datatype != spec.datatype:
        raise HTTPError(
            400, f"input {name!r} has datatype {datatype!r} but the model expects {spec.datatype}"
        )
    _check_dims(name, shape)
    check_shape(spec, shape)
    size = math.prod(shape)
    if datatype == "BYTES":
        values, offset = [], 0
        while offset < len(chunk):
            if offset + 4 > len(chunk):
                raise HTTPError(400, f"input {name!r}: truncated BYTES element")
            length = int.from_bytes(chunk[offset : offset + 4], "little")
            values.append(chunk[offset + 4 : offset + 4 + length].decode("utf-8", "replace"))
            offset += 4 + length
        array = np.array(values, dtype=object)
    else:
        dtype = np.dtype(np.uint8 if datatype == "BOOL" else DATATYPES[datatype]).newbyteorder("<")
        if len(chunk) != size * dtype.itemsize:
            raise HTTPError(
                400, f"input {name!r}: shape {shape} needs {size * dtype.itemsize} bytes, got {len(chunk)}"
            )
        array = np.frombuffer(chunk, dtype=dtype)
        array = array.astype(np.bool_) if datatype == "BOOL" else array.astype(dtype.newbyteorder("="))
        check_binary(name, array, datatype, missing_ok, shape)
    if array.size != size:
        raise HTTPError(400, f"input {name!r}: shape {shape} needs {size} values but data has {array.size}")
    return array.reshape(shape)


def encode_binary(name: str, array: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """An output tensor as a JSON entry with `binary_data_size` and its raw bytes."""
    array = np.asarray(array)
    datatype = datatype_of(array)
    if datatype == "BYTES":
        parts = []
        for value in array.ravel():
            raw = value if isinstance(value, bytes) else str(value).encode()
            parts.append(len(raw).to_bytes(4, "little") + raw)
        data = b"".join(parts)
    elif datatype == "BOOL":
        data = array.astype(np.uint8).tobytes()
    else:
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    entry = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    entry["parameters"] = {"binary_data_size": len(data)}
    return entry, data
