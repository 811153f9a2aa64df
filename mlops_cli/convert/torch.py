"""PyTorch models (TorchScript, torch.export `.pt2`, pickled modules) via torch.onnx.export.

The dynamo exporter (it needs onnxscript) is used with a dynamic batch axis and the weights
inline (`external_data=False`), so the result is one self-contained file. TorchScript modules
it cannot trace fall back to the TorchScript exporter. `torch.load` of a pickled module runs
code, as any unpickling does: only files from the store are loaded.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from mlops_cli.convert.base import Adapter, InputSpec, Options, require, version_of
from mlops_cli.convert.rows import Rows
from mlops_cli.errors import ExternalToolError, MlopsError, UsageError

DEFAULT_MAX_OPSET = 20  # torch.onnx's own default opset for the dynamo exporter


def _format(path: Path) -> str:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if path.suffix == ".pt2" or any("serialized_exported_program" in n for n in names):
            return "export"
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
    return "pickle"


def load(path: Path, input_shape: tuple[int, ...] | None) -> TorchAdapter:
    """Load a TorchScript, torch.export or pickled-module file into an adapter.

    Raises MlopsError for corrupt files, state_dicts and objects that are not modules.
    """
    torch = require("torch", "torch")
    require("onnxscript", "torch")
    kind = _format(path)
    example_shape = None
    program = None
    try:
        if kind == "export":
            program = torch.export.load(str(path))
            inputs = getattr(program, "example_inputs", None)
            if inputs and inputs[0]:
                example_shape = tuple(int(d) for d in inputs[0][0].shape[1:])
            module = program.module()
            _require_dynamic_batch(program)
        elif kind == "torchscript":
            module = torch.jit.load(str(path), map_location="cpu")
        else:
            module = torch.load(str(path), map_location="cpu", weights_only=False)
    except (RuntimeError, ValueError, EOFError, OSError, KeyError, AttributeError) as exc:
        raise MlopsError(
            f"{path.name} is not a loadable PyTorch model ({type(exc).__name__}: {exc})"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - unpickling raises whatever the file's code raises
        if type(exc).__name__ == "UnpicklingError":
            raise MlopsError(f"{path.name} is not a loadable PyTorch model ({exc})") from exc
        raise
    adapter = adapter_for_module(module, input_shape, example_shape)
    adapter.program = program
    return adapter


def _require_dynamic_batch(program: Any) -> None:
    """A torch.export program keeps the batch size it was exported with unless told otherwise."""
    import torch

    for node in program.graph_module.graph.nodes:
        if node.op != "placeholder" or node.name not in program.graph_signature.user_inputs:
            continue
        value = node.meta.get("val")
        if value is not None and value.dim() and not isinstance(value.shape[0], torch.SymInt):
            raise UsageError(
                f"this torch.export program has a fixed batch size of {int(value.shape[0])}",
                hint="export it with dynamic_shapes=({0: torch.export.Dim('batch')},) and register that",
            )


def adapter_for_module(
    module: Any, input_shape: tuple[int, ...] | None, example_shape: tuple[int, ...] | None = None
) -> TorchAdapter:
    torch = require("torch", "torch")
    if isinstance(module, dict):
        raise MlopsError(
            "the file holds a state_dict (weights only), not a module",
            hint="register torch.jit.script(model).save(...), torch.export.save(...) or torch.save(model)",
        )
    if not isinstance(module, torch.nn.Module):
        raise MlopsError(f"the file holds a {type(module).__name__}, not a torch.nn.Module")
    return TorchAdapter(module, input_shape or example_shape)


class TorchAdapter(Adapter):
    framework = "pytorch"
    converter = "torch.onnx"

    def __init__(self, module: Any, shape: tuple[int, ...] | None) -> None:
        try:
            module.eval()
        except NotImplementedError:
            pass  # torch.export's module() is already in inference form and refuses eval()
        self.module = module
        self.shape = shape
        self.script = type(module).__module__.startswith("torch.jit")
        self.program: Any = None  # the ExportedProgram, when loaded from a .pt2 file

    @property
    def max_opset(self) -> int:  # type: ignore[override]
        try:
            from torch.onnx._constants import ONNX_DEFAULT_OPSET
        except ImportError:
            return DEFAULT_MAX_OPSET
        return int(ONNX_DEFAULT_OPSET)

    def spec(self) -> InputSpec:
        return InputSpec(kind="tensor", shape=self.shape)

    def _example(self, rows: Rows) -> Any:
        import torch

        if self.shape is None:
            if rows.source == "synthesised":
                raise UsageError(
                    "a PyTorch model does not record its input shape",
                    hint="pass --input-shape (e.g. 20 or 3,32,32) or --sample with real rows",
                )
            self.shape = tuple(rows.tensor(None).shape[1:])
        values = rows.tensor(self.shape)[:2]
        if len(values) < 2:  # a batch of one would be specialised to 1 by the exporter
            values = values.repeat(2, axis=0)
        return torch.from_numpy(values.astype("float32"))

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        import logging

        # The exporter logs optional-package notes (torchvision) as warnings: not the user's news.
        exporter_log = logging.getLogger("torch.onnx")
        level = exporter_log.level
        exporter_log.setLevel(logging.ERROR)
        try:
            self._convert(rows, options, output)
        finally:
            exporter_log.setLevel(level)

    def _convert(self, rows: Rows, options: Options, output: Path) -> None:
        import torch

        example = self._example(rows)
        # An ExportedProgram is exported as it is (its dynamic axes already set); re-tracing
        # its module() fails.
        target = self.program if self.program is not None else self.module
        dynamic = None if self.program is not None else ({0: torch.export.Dim("batch")},)
        try:
            torch.onnx.export(
                target,
                (example,),
                str(output),
                input_names=["input"],
                opset_version=options.opset,
                dynamo=True,
                external_data=False,
                dynamic_shapes=dynamic,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types
            if not self.script:
                raise ExternalToolError(f"torch.onnx.export failed: {_first_line(exc)}") from exc
            self._export_torchscript(example, options, output)

    def _export_torchscript(self, example: Any, options: Options, output: Path) -> None:
        import torch

        try:
            torch.onnx.export(
                self.module,
                (example,),
                str(output),
                input_names=["input"],
                opset_version=min(options.opset, 20),
                dynamo=False,
                dynamic_axes={"input": {0: "batch"}},
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types
            raise ExternalToolError(f"torch.onnx.export failed: {_first_line(exc)}") from exc

    def native(self, rows: Rows) -> dict[str, Any]:
        import torch

        values = rows.tensor(self.shape).astype("float32")
        with torch.no_grad():
            out = self.module(torch.from_numpy(values))
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        return {f"output_{i}": o.detach().cpu().numpy() for i, o in enumerate(outputs)}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        return [f"output_{i}" for i in range(len(onnx_outputs))]

    def versions(self) -> dict[str, str | None]:
        return {"torch": version_of("torch"), "onnxscript": version_of("onnxscript")}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
