"""Reading a model's input and output signature from its files, when a reader is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_cli.errors import MlopsError


def onnx_signature(path: Path) -> dict[str, Any] | None:
    """Inputs and outputs (name, element type, shape) of an ONNX graph; None without `onnx`.

    Shapes keep symbolic dimensions as their names (for example "batch") and unknown ones as
    null. Initialisers listed as graph inputs are not inputs a caller provides.
    """
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initialisers = {i.name for i in graph.initializer}
    return {
        "format": "onnx",
        "inputs": [_value_info(v) for v in graph.input if v.name not in initialisers],
        "outputs": [_value_info(v) for v in graph.output],
        "opsets": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }


def _value_info(value: Any) -> dict[str, Any]:
    import onnx

    kind = value.type.WhichOneof("value")
    if kind == "tensor_type":
        tensor = value.type.tensor_type
        shape = None
        if tensor.HasField("shape"):
            shape = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim
            ]
        return {
            "name": value.name,
            "type": "tensor",
            "dtype": onnx.TensorProto.DataType.Name(tensor.elem_type).lower(),
            "shape": shape,
        }
    return {
        "name": value.name,
        "type": kind.replace("_type", "") if kind else "unknown",
        "dtype": None,
        "shape": None,
    }


def _decode_error() -> type[Exception]:
    try:
        from google.protobuf.message import DecodeError
    except ImportError:  # no protobuf means no onnx either: nothing will raise it
        return ValueError
    return DecodeError


def read_signature(framework: str, path: Path, files: list[str]) -> dict[str, Any] | None:
    """The signature for a registered path, if its framework has a reader that is installed."""
    if framework != "onnx":
        return None
    DecodeError = _decode_error()  # noqa: N806 - an exception class, looked up lazily
    target = path if path.is_file() else next((path / f for f in files if f.endswith(".onnx")), None)
    if target is None:
        return None
    try:
        return onnx_signature(target)
    except (DecodeError, ValueError, OSError) as exc:
        raise MlopsError(f"{target} is not a valid ONNX model: {exc}") from exc
