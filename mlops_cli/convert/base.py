"""What every framework module provides: a loaded model that can convert and predict itself.

The service only talks to `Adapter`, so adding a framework means one new module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MissingDependencyError

if TYPE_CHECKING:
    import numpy as np

    from mlops_cli.convert.rows import Rows


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming `pip install 'mlops-cli[extra]'`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package or module, extra) from exc


def version_of(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


@dataclass(frozen=True)
class InputSpec:
    """What the model expects, as far as it tells: used to pick and synthesise parity rows.

    kind "table": named (or positional) feature columns; kind "tensor": one float tensor whose
    per-row shape is `shape` (None entries are unknown).
    """

    kind: str
    feature_names: list[str] | None = None
    n_features: int | None = None
    shape: tuple[int | None, ...] | None = None
    string_columns: dict[str, list[str]] = field(default_factory=dict)  # column -> known values


@dataclass(frozen=True)
class Options:
    """The user's choices that reach a converter."""

    opset: int
    features: list[str] | None = None
    input_shape: tuple[int, ...] | None = None


class Adapter:
    """A loaded source model. Subclasses fill the conversion and the native prediction.

    Outputs are dicts of logical name -> array, in the same order for the native model and the
    ONNX graph; `label_outputs` names those compared for equality instead of tolerance.
    """

    framework = "unknown"  # the source framework, as recorded in the registry
    converter = "unknown"  # the converting package's distribution name
    max_opset = 21
    label_outputs: frozenset[str] = frozenset()
    # Whether the model treats NaN as "missing" (and its ONNX graph the same way): recorded in
    # the signature as `accepts_missing`, so serve and score-batch let NaN through to it.
    accepts_missing = False

    def spec(self) -> InputSpec:
        raise NotImplementedError

    def convert(self, rows: Rows, options: Options, output: Path) -> None:
        """Write the ONNX graph to `output` (a single file, weights inline)."""
        raise NotImplementedError

    def native(self, rows: Rows) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def feed(self, rows: Rows, input_names: list[str]) -> dict[str, Any]:
        """The onnxruntime inputs for `rows`; default: one float32 tensor."""
        import numpy as np

        return {input_names[0]: np.ascontiguousarray(rows.tensor(self.spec().shape), dtype=np.float32)}

    def output_names(self, onnx_outputs: list[str]) -> list[str]:
        """Logical names for the ONNX outputs, in order; default: the native output names."""
        return onnx_outputs

    def feature_names(self, rows: Rows) -> list[str] | None:
        return self.spec().feature_names

    def class_labels(self) -> list[Any] | None:
        return None

    def versions(self) -> dict[str, str | None]:
        """Framework and converter versions, recorded with the converted model."""
        return {}
