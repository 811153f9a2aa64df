"""What every framework module provides: a loaded model that can convert and predict itself,
and the rows it is checked on (`Rows`, read and fitted by rows.py).

The service only talks to `Adapter`, so adding a framework means one new module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import MissingDependencyError, UsageError

if TYPE_CHECKING:
    import numpy as np


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


class Rows:
    """Named columns (CSV, Parquet, structured NPY) or one array (plain NPY); `source` says whence."""

    def __init__(
        self,
        source: str,
        columns: dict[str, np.ndarray] | None = None,
        array: np.ndarray | None = None,
    ) -> None:
        self.source = source
        self.columns = columns
        self.array = array

    def __len__(self) -> int:
        if self.columns is not None:
            return len(next(iter(self.columns.values()))) if self.columns else 0
        return 0 if self.array is None else len(self.array)

    @property
    def names(self) -> list[str] | None:
        return list(self.columns) if self.columns is not None else None

    def head(self, n: int) -> Rows:
        if self.columns is not None:
            return Rows(self.source, {k: v[:n] for k, v in self.columns.items()})
        return Rows(self.source, array=self.array[:n])

    def is_string(self, name: str) -> bool:
        return self.columns is not None and self.columns[name].dtype.kind in "OUS"

    def matrix(self) -> np.ndarray:
        """All values as one float64 matrix (n, features), columns in their order."""
        import numpy as np

        if self.columns is None:
            return np.asarray(self.array, dtype=np.float64).reshape(len(self.array), -1)
        strings = [k for k in self.columns if self.is_string(k)]
        if strings:
            raise UsageError(f"the rows have text columns ({', '.join(strings)}) but the model takes numbers")
        return np.column_stack([self.columns[k].astype(np.float64) for k in self.columns])

    def tensor(self, shape: tuple[int | None, ...] | None) -> np.ndarray:
        """The rows as (n, *shape) float64; a row of the wrong size is a UsageError."""
        values = self.matrix() if self.columns is not None else self.array.astype("float64")
        if not shape or any(d is None for d in shape):
            return values
        wanted = 1
        for dim in shape:
            wanted *= dim
        per_row = values[0].size if len(values) else wanted
        if per_row != wanted:
            raise UsageError(
                f"rows from {self.source} have {per_row} values each but the model takes shape "
                f"{tuple(shape)} ({wanted} values)",
                hint="check --sample or --input-shape",
            )
        return values.reshape((len(values), *shape))


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
