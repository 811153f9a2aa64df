"""Which ONNX opset to target: the highest that the converter, onnx and onnxruntime all support."""

from __future__ import annotations

from functools import cache

from mlops_cli.errors import UsageError

MIN_OPSET = 9


@cache
def runtime_max_opset() -> int:
    """The highest default-domain opset the installed onnxruntime loads (probed once, in memory).

    onnxruntime does not publish this number, so a one-node graph is tried from the newest
    opset onnx knows downwards.
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    for opset in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1):
        ids = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=ids)
        model.ir_version = helper.find_min_ir_version_for(ids)
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - onnxruntime raises its own types for "too new"
            continue
        return opset
    return MIN_OPSET


def choose_opset(requested: int | None, converter_max: int) -> int:
    """`requested` if given and supportable, else the highest opset every part supports."""
    highest = min(converter_max, runtime_max_opset())
    if requested is None:
        return highest
    if requested < MIN_OPSET or requested > runtime_max_opset():
        raise UsageError(
            f"opset {requested} is not supported here",
            hint=f"choose {MIN_OPSET}..{runtime_max_opset()}; the converter is tested up to {converter_max}",
        )
    return requested
