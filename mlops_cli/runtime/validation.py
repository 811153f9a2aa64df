"""The one rule for values reaching a model, the same for serve (v2 and /invocations) and score-batch.

A value must be usable as the input's element type without changing meaning:
- numbers must be finite and within the type's range (`1e300` overflows FP32 to `inf`; `300`
  wraps in UINT8): out of range is refused, never clipped or wrapped;
- NaN and missing values (JSON `null`, an empty cell) are refused, unless the model's signature
  says it takes missing values (`"accepts_missing": true`, recorded for models such as gradient
  boosting that treat NaN as "missing"): then they reach a float input as NaN;
- integer inputs take whole numbers only (`1.0` is 1, `1.5` is refused);
- in JSON (requests, JSON Lines) a value must have the JSON type of the input: numbers for numeric
  inputs (`"1.5"` and `true` are refused), `true`/`false` for BOOL, strings for string inputs.
  Text tables (CSV) carry no types: their cells are parsed, and the parsed numbers follow the
  rules above.

Serving turns a broken rule into a 400 naming the input, row and value; batch scoring into a row
error (`--on-error skip` skips the row). Only numpy is needed, so the serving image carries this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MISSING_KEY = "accepts_missing"  # in a version's signature: the model takes NaN for missing values

# ONNX element types (signature spelling) to numpy dtypes, for the numeric ones.
NUMERIC_DTYPES = {
    "float": "float32",
    "float16": "float16",
    "double": "float64",
    "int64": "int64",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint64": "uint64",
    "uint32": "uint32",
    "uint16": "uint16",
    "uint8": "uint8",
}
# The v2 protocol's names for the same types, so messages speak the caller's language.
V2_NAMES = {
    "float": "FP32",
    "float16": "FP16",
    "double": "FP64",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint64": "UINT64",
    "uint32": "UINT32",
    "uint16": "UINT16",
    "uint8": "UINT8",
    "bool": "BOOL",
    "string": "BYTES",
}


class ValueRuleError(ValueError):
    """A value that breaks the rule: `index` is its position in the array, `reason` says why."""

    def __init__(self, index: tuple[int, ...], reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def accepts_missing(signature: Mapping[str, Any] | None) -> bool:
    """Whether the model's signature says it takes missing values (NaN) in its float inputs."""
    return bool(signature and signature.get(MISSING_KEY))


def check_numbers(
    values: np.ndarray, dtype: str, *, missing_ok: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """`values` (any numeric numpy array) cast to the ONNX element type `dtype`, checked.

    Returns (the cast array, a bool mask of the values that break the rule or None when all
    pass); `reason(values, index, dtype)` says why one of them does. Whole arrays are checked
    with a few vectorised passes; the per-value work happens only for the bad ones.
    """
    import numpy as np

    target = np.dtype(NUMERIC_DTYPES[dtype])
    source = values.dtype
    if target.kind == "f":
        if (source.kind == "f" and source.itemsize <= target.itemsize) or (
            source.kind in "iu" and target.itemsize >= 4
        ):
            cast = values.astype(target, copy=False)  # cannot overflow: no errstate (~4 us)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                cast = values.astype(target, copy=False)
        if source.kind == "b":
            return cast, np.ones(values.shape, dtype=bool)
        finite = np.isfinite(cast) if cast.dtype.kind == "f" else None
        if finite is None or finite.all():
            return cast, None
        bad = ~finite
        if missing_ok and source.kind == "f":
            bad &= ~np.isnan(values)
        return cast, bad if bad.any() else None
    # Integer targets.
    if source.kind == "b":
        return values.astype(target), np.ones(values.shape, dtype=bool)
    info = np.iinfo(target)
    if source.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values != np.floor(values))
            # hi + 1 is a power of two, exact in float64, unlike hi itself for 64-bit types.
            bad |= (values < float(info.min)) | (values >= float(info.max) + 1.0)
    elif source.kind in "iu":
        if np.can_cast(source, target, "safe"):
            return values.astype(target, copy=False), None
        wide = values.astype(np.float64) if source.itemsize == 8 else values.astype(np.int64)
        bad = (wide < info.min) | (wide > info.max)
        if source.kind == "u" and target.kind == "i" and source.itemsize == 8:
            bad = values > np.uint64(info.max)
        elif source.kind == "i" and target == np.uint64:
            bad = values < 0
    else:
        return values, np.ones(values.shape, dtype=bool)
    if not bad.any():
        return values.astype(target, copy=False), None
    safe = np.where(bad, 0, values)
    return safe.astype(target), bad


def reason(values: np.ndarray, index: Any, dtype: str) -> str:
    """Why the value at `index` of `values` (the array given to `check_numbers`) breaks the rule."""
    import math

    value = values[index].item() if hasattr(values[index], "item") else values[index]
    name = V2_NAMES.get(dtype, dtype)
    if isinstance(value, bool):
        return f"{str(value).lower()} is a boolean, not a number"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return f"{value} is not a finite number"
        if NUMERIC_DTYPES[dtype].startswith(("int", "uint")) and value != math.floor(value):
            return f"{value!r} is not an integer"
    return f"{value!r} is out of range for {name}"


def from_json(values: list, dtype: str, *, missing_ok: bool = False) -> np.ndarray:
    """JSON values (flat or nested lists) as a numpy array of the element type, or ValueRuleError.

    The JSON type of every value is checked first (numbers for numeric inputs, booleans for
    BOOL, strings for string inputs), then the numbers by `check_numbers`. The error's index
    is the value's position in the (nested) array.
    """
    import numpy as np

    kinds = _json_types(values)
    if dtype == "string":
        _refuse_other(values, kinds, {str}, "a string")
        array = _rectangular(values, object)
        if any(type(v) is list for v in array.ravel()):  # object arrays keep ragged rows as lists
            raise ValueRuleError((), RAGGED)
        return array
    if dtype == "bool":
        _refuse_other(values, kinds, {bool}, "true or false")
        return _rectangular(values, bool)
    allowed = {int, float}
    if missing_ok and dtype in ("float", "float16", "double"):
        allowed.add(type(None))
    _refuse_other(values, kinds, allowed, "a number")
    if _plainly_in_range(values, kinds, dtype):
        return _rectangular(values, _numpy_dtype(dtype))
    try:
        wide = dtype in ("float", "float16", "double") or float in kinds or type(None) in kinds
        array = np.array(values, dtype=np.float64 if wide else None)
    except (OverflowError, ValueError) as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValueRuleError((), RAGGED) from None
        raise ValueRuleError((), f"a number is out of range for {V2_NAMES.get(dtype, dtype)}") from None
    if array.dtype.kind == "O":  # integers beyond 64 bits
        flat = array.ravel()
        position = next(i for i, v in enumerate(flat) if not -(2**63) <= v < 2**64)
        index = np.unravel_index(position, array.shape)
        name = V2_NAMES.get(dtype, dtype)
        raise ValueRuleError(tuple(int(i) for i in index), f"{flat[position]} is out of range for {name}")
    cast, bad = check_numbers(array, dtype, missing_ok=missing_ok)
    if bad is not None:
        index = tuple(int(i) for i in np.unravel_index(int(bad.argmax()), bad.shape))
        raise ValueRuleError(index, reason(array, index, dtype))
    return cast


RAGGED = "rows have different lengths"
_NUMPY_DTYPES: dict[str, Any] = {}


def _numpy_dtype(dtype: str) -> Any:
    """The numpy dtype object of an element type, cached: numpy parses a dtype string per call."""
    found = _NUMPY_DTYPES.get(dtype)
    if found is None:
        import numpy as np

        found = _NUMPY_DTYPES[dtype] = np.dtype(NUMERIC_DTYPES[dtype])
    return found


def _rectangular(values: list, dtype: Any) -> np.ndarray:
    """`np.array(values, dtype)`, or ValueRuleError when nested rows differ in length."""
    import numpy as np

    try:
        return np.array(values, dtype=dtype)
    except ValueError:
        raise ValueRuleError((), RAGGED) from None


_NUMBERS = frozenset({int, float})  # constants: a set literal is built anew on every call
_INTEGERS = frozenset({int})

# The largest magnitude each numeric type holds (floats) or its bounds (integers).
_FLOAT_LIMITS = {"float": 3.4028234663852886e38, "float16": 65504.0, "double": 1.7976931348623157e308}
_INT_BOUNDS = {
    name: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if name.startswith("int") else (0, 2**bits - 1)
    for name, bits in (
        ("int8", 8), ("int16", 16), ("int32", 32), ("int64", 64),
        ("uint8", 8), ("uint16", 16), ("uint32", 32), ("uint64", 64),
    )
}  # fmt: skip


def _plainly_in_range(values: list, kinds: set[type], dtype: str) -> bool:
    """A fast pass for the usual request, a flat list or a list of rows of plain numbers: True
    when every value is finite and within the type's range, so numpy can cast it directly.

    Python's C-level sum/min/max over a few dozen values cost well under a microsecond, where
    numpy's isfinite/errstate cost several per call. A NaN or inf makes the sum non-finite;
    False sends the values to the exact (numpy) check, which also names the bad one.
    """
    if not kinds or not kinds <= _NUMBERS:
        return False
    rows = not values or type(values[0]) is list
    try:
        limit = _FLOAT_LIMITS.get(dtype)
        if limit is not None:
            # One pass: the sum of magnitudes is NaN or inf when a value is, and no value's
            # magnitude exceeds it (a sum past the limit of values within it is sent to the
            # exact check, which finds nothing wrong: slower, never wrong).
            size = sum(map(_magnitude, values)) if rows else sum(map(abs, values))
            return math.isfinite(size) and size <= limit
        if rows:
            low, high = min(map(min, values)), max(map(max, values))
        else:
            low, high = min(values), max(values)
        lowest, highest = _INT_BOUNDS[dtype]
        return kinds == _INTEGERS and lowest <= low and high <= highest
    except (TypeError, ValueError, OverflowError):  # deeper nesting, empty rows, huge integers
        return False


def _magnitude(row: list) -> float:
    return sum(map(abs, row))


def _json_types(values: Any) -> set[type]:
    """The Python types of the leaves of a nested list (map/set keep the loop in C)."""
    if not isinstance(values, list):
        return {type(values)}
    types = set(map(type, values))
    if list in types:
        types.discard(list)
        for value in values:
            if type(value) is list:
                types |= _json_types(value)
    return types


def _refuse_other(values: list, kinds: set[type], allowed: set[type], wanted: str) -> None:
    """ValueRuleError at the first value whose JSON type is not allowed."""
    if kinds <= allowed:
        return
    index, value = _first_not(values, allowed)
    if value is None:
        problem = "missing value"
    elif isinstance(value, bool):
        problem = f"{str(value).lower()} is a boolean, not {wanted}"
    elif isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        problem = f"{shown!r} is a string, not {wanted}"
    else:
        problem = f"{type(value).__name__} value {value!r} is not {wanted}"[:200]
    raise ValueRuleError(index, problem)


def _first_not(values: Any, allowed: set[type], at: tuple[int, ...] = ()) -> tuple[tuple[int, ...], Any]:
    for i, value in enumerate(values):
        if type(value) is list:
            found = _first_not(value, allowed, (*at, i))
            if found[0]:
                return found
        elif type(value) not in allowed:
            return (*at, i), value
    return (), None
