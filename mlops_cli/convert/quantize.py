"""int8 quantisation of a converted graph: dynamic (weights only) or static (QDQ, calibrated).

Static quantisation fixes the activations' scales from a calibration sample, so the int8
kernels run end to end (what small devices and VNNI CPUs are fast at); dynamic computes them
per call. Both go through onnxruntime.quantization; the caller checks parity afterwards. The
speed of the float and the int8 graph is measured the same way, in this process, so the
report can say what quantising bought.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_cli.errors import ExternalToolError

MODES = ("dynamic", "static")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
SPEED_SECONDS = 0.5  # per graph; enough for a stable rows/s on the parity rows


def normalise_opsets(source: Path, opset: int) -> None:
    """Rewrite `source` with exactly one default-domain opset import.

    The quantiser wants one: skl2onnx may write it twice, and graphs of only ai.onnx.ml ops
    (a scaler + linear model) may not import it at all.
    """
    import onnx

    model = onnx.load(str(source))
    versions: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        versions[domain] = max(versions.get(domain, 0), entry.version)
    versions.setdefault("", opset)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in versions.items())
    onnx.save(model, str(source))


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice on the root logger
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_dynamic(source: Path, target: Path, opset: int) -> None:
    """int8 weights, activations quantised per call. ExternalToolError when the quantiser fails."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    normalise_opsets(source, opset)
    with _quiet_root_logger():
        try:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        except Exception as exc:  # noqa: BLE001 - the quantiser raises assorted types
            raise ExternalToolError(f"dynamic quantisation failed: {exc}") from exc


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over fixed feeds, cut into batches."""

    def __init__(self, feeds: dict[str, Any], batch: int) -> None:
        rows = len(next(iter(feeds.values())))
        self._batches = iter(
            [{name: value[i : i + batch] for name, value in feeds.items()} for i in range(0, rows, batch)]
        )

    def get_next(self) -> dict[str, Any] | None:
        return next(self._batches, None)


def quantize_static(
    source: Path, target: Path, opset: int, feeds: dict[str, Any], batch: int, method: str = "minmax"
) -> None:
    """QDQ int8 (uint8 activations, int8 weights, the fast pairing on x86 CPUs) calibrated on `feeds`.

    ExternalToolError when the quantiser fails (a graph of only ai.onnx.ml operators has
    nothing to quantise and says so).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    normalise_opsets(source, opset)
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    with _quiet_root_logger():
        try:
            quantize_static(
                str(source),
                str(target),
                _Calibration(feeds, batch),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
            )
        except Exception as exc:  # noqa: BLE001 - the quantiser raises assorted types
            raise ExternalToolError(f"static quantisation failed: {exc}") from exc


def rows_per_second(path: Path, feeds: dict[str, Any], seconds: float = SPEED_SECONDS) -> float:
    """Rows scored per second by one onnxruntime session on `feeds`, called back to back."""
    import time

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rows = len(next(iter(feeds.values())))
    session.run(None, feeds)  # warm-up: first-call allocations are not the model's speed
    calls, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        session.run(None, feeds)
        calls += 1
    return calls * rows / elapsed if elapsed > 0 else 0.0


def fixed_batch(path: Path) -> int | None:
    """The first input's batch size when the graph fixes it (a traced torch model), else None."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return dims[0].dim_value if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0 else None
