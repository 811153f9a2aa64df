"""JSON in and out of the request path: orjson when installed (it writes numpy arrays directly
and is several times faster), the standard library otherwise."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

try:
    import orjson
except ImportError:  # pragma: no cover - the serve extra installs it
    orjson = None


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


if orjson is not None:
    _OPTIONS = orjson.OPT_SERIALIZE_NUMPY

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value, default=_default, option=_OPTIONS)

    loads = orjson.loads
    DecodeError: type[Exception] = orjson.JSONDecodeError
else:  # pragma: no cover

    def dumps(value: Any) -> bytes:
        return json.dumps(value, default=_default, separators=(",", ":")).encode()

    def loads(data: bytes) -> Any:
        return json.loads(data)

    DecodeError = ValueError
