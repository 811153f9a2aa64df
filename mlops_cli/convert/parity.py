"""The parity check: the original model's outputs against onnxruntime's, on the same rows.

Tree models compare float32 inputs against thresholds learnt in float64, so a row lying exactly
on a split can flip branch: the check counts rows out of tolerance and accepts up to a rate,
rather than failing on one tie.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5
QUANTISED_RTOL = 0.1  # int8 weights move outputs far more than float32 rounding does
QUANTISED_ATOL = 0.05
DEFAULT_MAX_MISMATCH_RATE = 0.001
WORST_ROWS = 5
SHOWN_VALUES = 6


@dataclass(frozen=True)
class OutputDiff:
    name: str
    kind: str  # "values" or "labels"
    max_abs_diff: float | None
    max_rel_diff: float | None
    mismatched_rows: int
    label_agreement: float | None = None


@dataclass(frozen=True)
class ParityReport:
    """What the check found; stored as the version's `parity` metadata and shown by models show."""

    passed: bool
    rows: int
    source: str
    rtol: float
    atol: float
    max_mismatch_rate: float
    mismatched_rows: int
    mismatch_rate: float
    outputs: list[OutputDiff]
    worst_rows: list[dict[str, Any]] = field(default_factory=list)
    compared_with: str = "original"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    native: dict[str, np.ndarray],
    converted: dict[str, np.ndarray],
    *,
    labels: frozenset[str],
    rtol: float,
    atol: float,
    max_mismatch_rate: float,
    source: str,
) -> ParityReport:
    """Compare outputs by name; `labels` are compared for equality, the rest within rtol/atol.

    Raises UsageError if the two sides do not produce the same outputs and shapes.
    """
    import numpy as np

    if rtol < 0 or atol < 0 or not 0 <= max_mismatch_rate <= 1:
        raise UsageError("--rtol and --atol must be >= 0, --max-mismatch-rate between 0 and 1")
    if list(native) != list(converted):
        raise UsageError(
            f"the ONNX model's outputs {list(converted)} do not match the original's {list(native)}"
        )
    n = len(next(iter(native.values()))) if native else 0
    bad = np.zeros(n, dtype=bool)
    diffs: list[OutputDiff] = []
    worst: list[tuple[float, dict[str, Any]]] = []
    for name, expected in native.items():
        actual = converted[name]
        expected = np.asarray(expected).reshape(n, -1)
        actual = np.asarray(actual).reshape(len(actual), -1)
        if actual.shape != expected.shape:
            raise UsageError(
                f"output {name!r}: the ONNX model gives shape {actual.shape}, the original {expected.shape}"
            )
        if name in labels:
            if expected.dtype.kind in "biuf" and actual.dtype.kind in "biuf":
                rows_bad = (expected.astype(np.float64) != actual.astype(np.float64)).any(axis=1)
            else:
                rows_bad = (expected.astype(str) != actual.astype(str)).any(axis=1)
            diffs.append(
                OutputDiff(
                    name, "labels", None, None, int(rows_bad.sum()), float(1 - rows_bad.mean()) if n else 1.0
                )
            )
            for i in np.flatnonzero(rows_bad)[:WORST_ROWS]:
                worst.append((float("inf"), _row(i, name, expected[i], actual[i], None)))
        else:
            e, a = expected.astype(np.float64), actual.astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                abs_diff = np.abs(e - a)
            agree = (e == a) | (np.isnan(e) & np.isnan(a))  # equal infinities and NaNs agree
            abs_diff[agree] = 0.0
            abs_diff[np.isnan(abs_diff)] = np.inf
            # Relative to the original value, over values larger than atol: near zero only
            # the absolute difference means anything.
            scale = np.nan_to_num(np.abs(e), nan=0.0, posinf=0.0)
            rel_diff = np.where(scale > atol, abs_diff / np.maximum(scale, atol or 1e-300), 0.0)
            tolerance = atol + rtol * np.nan_to_num(np.abs(e), nan=0.0, posinf=0.0)
            rows_bad = (abs_diff > tolerance).any(axis=1)
            row_worst = abs_diff.max(axis=1) if abs_diff.size else np.zeros(n)
            diffs.append(
                OutputDiff(
                    name,
                    "values",
                    _finite(abs_diff.max()) if abs_diff.size else 0.0,
                    _finite(rel_diff.max()) if rel_diff.size else 0.0,
                    int(rows_bad.sum()),
                )
            )
            for i in np.argsort(-row_worst)[:WORST_ROWS]:
                if rows_bad[i]:
                    worst.append((float(row_worst[i]), _row(i, name, expected[i], actual[i], row_worst[i])))
        bad |= rows_bad
    mismatched = int(bad.sum())
    rate = mismatched / n if n else 0.0
    worst.sort(key=lambda item: -item[0])
    return ParityReport(
        passed=rate <= max_mismatch_rate,
        rows=n,
        source=source,
        rtol=rtol,
        atol=atol,
        max_mismatch_rate=max_mismatch_rate,
        mismatched_rows=mismatched,
        mismatch_rate=rate,
        outputs=diffs,
        worst_rows=[row for _, row in worst[:WORST_ROWS]],
    )


def _finite(value: float) -> float | None:
    import math

    value = float(value)
    return value if math.isfinite(value) else None


def _row(index: int, output: str, expected: Any, actual: Any, diff: float | None) -> dict[str, Any]:
    return {
        "row": int(index),
        "output": output,
        "original": _short(expected),
        "onnx": _short(actual),
        "abs_diff": None if diff is None else _finite(diff),
    }


def _short(values: Any) -> list[Any]:
    out = []
    for v in list(values)[:SHOWN_VALUES]:
        out.append(v.item() if hasattr(v, "item") else v)
    return out
