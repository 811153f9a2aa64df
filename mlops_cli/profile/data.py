"""The rows a profile sends: read from a file as `score-batch` reads it, or synthesised.

Either way they become the model's feeds once (checked by the runtime mapping, so a file whose
columns do not fit fails before anything is measured); each batch size then takes the first
rows, repeating them when the batch is larger than the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli import limits
from mlops_cli.errors import UsageError
from mlops_cli.runtime.mapping import NUMPY_TYPES, ModelSchema

if TYPE_CHECKING:
    import numpy as np

MAX_FILE_ROWS = 10_000  # enough distinct rows for every batch size profiled
# Memory a batch takes per byte of its feeds while it is measured: the feeds, the request's JSON
# text (a float32 is 4 bytes as a value, about 12 as text) and the server's parse of it (a Python
# float and a list slot per value), all alive at once.
BATCH_MEMORY_FACTOR = 16


@dataclass
class ProfileData:
    """The model's feeds for `rows` rows, and where they came from."""

    feeds: dict[str, np.ndarray]
    rows: int
    source: str

    def check_batch_sizes(self, sizes: tuple[int, ...]) -> None:
        """UsageError when the largest batch could not be held in memory while it is measured
        (`--batch-sizes 1000000000` is a typo, not a profile)."""
        per_row = sum(value.nbytes for value in self.feeds.values()) // max(self.rows, 1)
        largest = max(sizes)
        limits.check_memory(f"--batch-sizes {largest}", largest * per_row * BATCH_MEMORY_FACTOR)

    def batch(self, size: int) -> dict[str, np.ndarray]:
        """The feeds of `size` rows (the data's first rows, cycled when it has fewer)."""
        import numpy as np

        if size <= self.rows:
            return {name: value[:size] for name, value in self.feeds.items()}
        index = np.arange(size) % self.rows
        return {name: value[index] for name, value in self.feeds.items()}

    def infer_body(self, size: int) -> bytes:
        """An Open Inference Protocol v2 request body for `size` rows (what clients send)."""
        import orjson

        from mlops_cli.serving.codec import encode_tensor

        inputs = [encode_tensor(name, value) for name, value in self.batch(size).items()]
        return orjson.dumps({"inputs": inputs}, option=orjson.OPT_SERIALIZE_NUMPY)

    def http_request(self, model_name: str, size: int) -> tuple[str, bytes]:
        """The path and body of one request of `size` rows."""
        return f"/v2/models/{model_name}/infer", self.infer_body(size)


def from_file(schema: ModelSchema, path: Path) -> ProfileData:
    """Up to MAX_FILE_ROWS rows of a CSV, Parquet or JSON Lines file, mapped to the model.

    Raises NotFoundError for a missing file, InputError (exit 1) for columns or values that do
    not fit the model, UsageError for an unknown format.
    """
    from mlops_cli.batch.inputs import columns_of, resolve_inputs
    from mlops_cli.batch.readers import iter_chunks
    from mlops_cli.runtime.mapping import check_columns, to_feeds

    files = resolve_inputs((str(path),))
    if len(files) != 1:
        raise UsageError(f"--data {path} names {len(files)} files; give one file")
    check_columns(schema, columns_of(files[0]), f"{files[0].path.name}: ")
    chunk = next(iter_chunks(files, list(schema.columns), schema.column_dtypes(), MAX_FILE_ROWS), None)
    if chunk is None or chunk.rows == 0:
        raise UsageError(f"--data {path} holds no rows")
    feeds = to_feeds(schema, chunk.batch, where=f"{files[0].path.name}: ")
    return ProfileData(feeds, chunk.rows, f"file {files[0].path}")


def synthesise(schema: ModelSchema, rows: int) -> ProfileData:
    """`rows` rows from the signature: standard-normal numbers (seed 0), small integers, "a".

    Tree models take the same paths for any values; what profiling needs is the right shapes
    and types. Raises UsageError when an input's width is unknown.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    shapes: dict[str, tuple[str, tuple[int, ...]]] = {}
    for spec in schema.inputs:
        dtype = NUMPY_TYPES.get(spec.dtype or "float", "float32")
        shape = tuple(spec.shape or (None, 1))
        tail = []
        for dim in shape[1:]:
            if not isinstance(dim, int) or dim < 1:
                raise UsageError(
                    f"the model's input {spec.name!r} has a dimension of unknown size ({shape})",
                    hint="pass --data PATH with real rows",
                )
            tail.append(dim)
        shapes[spec.name] = dtype, (rows, *tail)
    needed = sum(np.dtype(dtype).itemsize * math.prod(full) for dtype, full in shapes.values())
    limits.check_memory(f"--rows {rows}", needed)
    feeds: dict[str, Any] = {}
    for name, (dtype, full) in shapes.items():
        if dtype == "object":
            value = np.full(full, "a", dtype=object)
        elif dtype == "bool":
            value = rng.integers(0, 2, full).astype(bool)
        elif dtype.startswith(("int", "uint")):
            value = rng.integers(0, 4, full).astype(dtype)
        else:
            value = rng.standard_normal(full).astype(dtype)
        feeds[name] = value
    return ProfileData(feeds, rows, f"{rows} synthesised rows")
