"""Keras (`.keras`, `.h5`) and TensorFlow SavedModel folders via tf2onnx.

`tf2onnx.convert.from_keras` fails on Keras 3, so both paths wrap the model in a tf.function
with a dynamic batch axis and use `from_function`. tf2onnx supports opsets up to 18. Exact
GELU lowers to `Erfc`, which tf2onnx cannot convert: the error names the op and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import Adapter, InputSpec, Options, require, version_of
from mlops_cli.convert.rows import Rows
from mlops_cli.errors import ExternalToolError, MlopsError, UsageError

MAX_OPSET = 18
_UNSUPPORTED_OPS = re.compile(r"Unsupported ops: Counter\((\{.*?\})\)")


def _tf() -> Any:
    # TensorFlow prints pages of C++ start-up logs on stderr unless told otherwise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow", "tensorflow", "tensorflow-cpu")
    require("tf2onnx", "tensorflow")
    return tf


def load(path: Path, input_shape: tuple[int, ...] | None) -> Adapter:
    """A Keras file or a SavedModel folder; MlopsError when it cannot be loaded."""
    tf = _tf()
    try:
        if path.is_dir():
            return SavedModelAdapter(tf.saved_model.load(str(path)), input_shape)
        model = tf.keras.models.load_model(str(path), compile=False)
    except MlopsError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras and TF raise many types for a bad file
        raise MlopsError(
            f"{path.name} is not a loadable Keras/TensorFlow model ({type(exc).__name__}: {exc})"
        ) from exc
    return KerasAdapter(model, input_shape)


class _TensorFlowAdapter(Adapter):
    converter = "tf2onnx"
    max_opset = MAX_OPSET
    shape: tuple[int | None, ...] | None = None
    dtype: Any = None

    def spec(self) -> InputSpec:
        return InputSpec(kind="tensor", shape=self.shape)

    def _call(self, x: Any) -> list[Any]:
        raise NotImplementedError

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        import tensorflow as tf
        import tf2onnx

        shape = self.shape if self.shape and None not in self.shape else tuple(rows.tensor(None).shape[1:])
        self.shape = shape
        signature = [tf.TensorSpec((None, *shape), self.dtype or tf.float32, name="input")]
        function = tf.function(self._call, input_signature=signature)
        try:
            tf2onnx.convert.from_function(
                function, input_signature=signature, opset=options.opset, output_path=str(output)
            )
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises many types
            found = _UNSUPPORTED_OPS.search(str(exc))
            if found:
                hint = (
                    "exact GELU lowers to Erfc: use gelu(approximate=True)"
                    if "Erfc" in found.group(1)
                    else None
                )
                raise ExternalToolError(
                    f"tf2onnx cannot convert the TensorFlow op(s) {found.group(1)}", hint=hint
                ) from exc
            raise ExternalToolError(
                f"tf2onnx could not convert the model: {type(exc).__name__}: {exc}"
            ) from exc
        _rewrite_unsupported(output)

    def native(self, rows: Rows) -> dict[str, Any]:
        import tensorflow as tf

        values = rows.tensor(self.shape).astype("float32")
        outputs = self._call(tf.constant(values, dtype=self.dtype or tf.float32))
        return {f"output_{i}": o.numpy() for i, o in enumerate(outputs)}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        return [f"output_{i}" for i in range(len(onnx_outputs))]

    def versions(self) -> dict[str, str | None]:
        return {
            "tensorflow": version_of("tensorflow-cpu") or version_of("tensorflow"),
            "keras": version_of("keras"),
            "tf2onnx": version_of("tf2onnx"),
        }


class KerasAdapter(_TensorFlowAdapter):
    framework = "keras"

    def __init__(self, model: Any, input_shape: tuple[int, ...] | None) -> None:
        inputs = getattr(model, "inputs", None) or []
        if len(inputs) > 1:
            raise UsageError(f"the Keras model has {len(inputs)} inputs; mlops converts single-input models")
        declared = getattr(model, "input_shape", None)
        if isinstance(declared, tuple) and len(declared) > 1:
            self.shape = tuple(declared[1:])
        if input_shape:
            self.shape = input_shape
        self.model = model

    def _call(self, x: Any) -> list[Any]:
        out = self.model(x, training=False)
        if isinstance(out, dict):
            return [out[k] for k in sorted(out)]
        return list(out) if isinstance(out, (list, tuple)) else [out]


class SavedModelAdapter(_TensorFlowAdapter):
    framework = "tensorflow"

    def __init__(self, loaded: Any, input_shape: tuple[int, ...] | None) -> None:
        signatures = getattr(loaded, "signatures", {}) or {}
        if "serving_default" not in signatures:
            raise MlopsError("the SavedModel has no serving_default signature to convert")
        self.function = signatures["serving_default"]
        specs = self.function.structured_input_signature[1]
        if len(specs) != 1:
            raise UsageError(f"the SavedModel takes {len(specs)} inputs; mlops converts single-input models")
        ((self.input_name, spec),) = specs.items()
        self.dtype = spec.dtype
        self.shape = tuple(spec.shape[1:]) if spec.shape.rank else None
        if input_shape:
            self.shape = input_shape
        self.output_keys = sorted(self.function.structured_outputs)
        self.loaded = loaded  # keeps the variables the signature closes over alive

    def _call(self, x: Any) -> list[Any]:
        out = self.function(**{self.input_name: x})
        return [out[k] for k in self.output_keys]


def _rewrite_unsupported(path: Path) -> None:
    """tf2onnx writes ops it cannot convert as-is: rewrite Erfc(x) as 1 - Erf(x), refuse others.

    The rewrite is exact in real arithmetic; the parity check proves it in float32.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    nodes = []
    rewrote = False
    for node in graph.node:
        if node.op_type == "Erfc" and node.domain in ("", "ai.onnx"):
            erf = f"{node.output[0]}__erf"
            nodes.append(helper.make_node("Erf", [node.input[0]], [erf], name=f"{node.name}__erf"))
            nodes.append(
                helper.make_node("Sub", ["mlops__one", erf], [node.output[0]], name=f"{node.name}__sub")
            )
            rewrote = True
        else:
            nodes.append(node)
    unknown = sorted(
        {n.op_type for n in nodes if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)}
    )
    if unknown:
        raise ExternalToolError(
            f"tf2onnx cannot convert the TensorFlow op(s) {', '.join(unknown)}",
            hint="replace them in the model with ops ONNX supports",
        )
    if not rewrote:
        return
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), "mlops__one"))
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
