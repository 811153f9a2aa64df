"""The `--errors-output` rows of a batch: file, row number, passthrough columns and the reason.

Shared by the ONNX worker and the entry-script scorer, so a skipped row reads the same from both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa


class ErrorSource(Protocol):
    """What the rows name of the job: its files and its passthrough columns."""

    file_names: tuple[str, ...]
    passthrough: tuple[str, ...]


def errors_table(
    batch: pa.RecordBatch, bad: Any, reasons: dict[int, str], spec: ErrorSource, file_index: int, start: int
) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    positions = np.flatnonzero(bad)
    columns: dict[str, Any] = {
        "file": pa.array([spec.file_names[file_index]] * len(positions), type=pa.string()),
        "row": pa.array(positions + start + 1, type=pa.int64()),
    }
    for name in spec.passthrough:
        columns[name] = batch.column(name).take(pa.array(positions))
    columns["error"] = pa.array([reasons[int(i)] for i in positions], type=pa.string())
    return pa.table(columns)
