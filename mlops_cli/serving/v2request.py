"""An Open Inference Protocol v2 infer request (JSON, or JSON plus the binary tensor extension)
decoded into the model's feeds and the outputs to return.

Every field is type-checked before it is used, and a wrong one is a 400 naming it: a request
is untrusted input, and a field of the wrong type is the client's error, never a 500.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from mlops_cli.serving import jsonio
from mlops_cli.serving.codec import TensorSpec, decode_binary, decode_tensor
from mlops_cli.serving.errors import HTTPError


class InferRequest(NamedTuple):  # a tuple: a frozen dataclass costs a microsecond per request
    feeds: dict[str, Any]
    outputs: list[tuple[str, bool]]  # (output name, as binary data)
    id: str | None


def decode_request(
    body: bytes,
    header_length: bytes | None,
    specs: dict[str, TensorSpec],
    output_names: list[str],
    missing_ok: bool,
) -> InferRequest:
    """The request's feeds and wanted outputs; `header_length` is the binary extension's
    Inference-Header-Content-Length (None for a JSON-only body)."""
    binary: Any = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise HTTPError(400, "Inference-Header-Content-Length is not a length within the body")
        split = int(header_length)
        body, binary = body[:split], memoryview(body)[split:]
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise HTTPError(400, "the body must be a JSON object with 'inputs'")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise HTTPError(400, f"'id' must be a string, got {_kind(request_id)}")
    parameters = _object(payload.get("parameters"), "'parameters'")
    default_binary = _flag(parameters, "binary_data_output", "'parameters'", False)
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise HTTPError(400, "'inputs' must be a non-empty list of tensors")
    feeds: dict[str, Any] = {}
    for tensor in inputs:
        name = tensor.get("name") if isinstance(tensor, dict) else None
        if not isinstance(name, str):
            raise HTTPError(400, "every input needs a 'name' (a string)")
        spec = specs.get(name)
        if spec is None:
            raise HTTPError(400, f"unknown input {name!r}; the model's inputs are: {', '.join(specs)}")
        if name in feeds:
            raise HTTPError(400, f"input {name!r} is given twice")
        parameters = tensor.get("parameters")
        size = None
        if parameters is not None:  # the message is built only for a request that has them
            size = _object(parameters, f"input {name!r}: 'parameters'").get("binary_data_size")
        if size is None:
            feeds[name] = decode_tensor(spec, tensor, missing_ok)
            continue
        if type(size) is not int or size < 0 or size > len(binary):
            raise HTTPError(400, f"input {name!r}: binary_data_size {size!r} does not fit the body")
        feeds[name] = decode_binary(spec, tensor, bytes(binary[:size]), missing_ok)
        binary = binary[size:]
    if len(binary):
        raise HTTPError(400, f"{len(binary)} bytes of binary data are not claimed by any input")
    if len(feeds) != len(specs):  # feeds holds only known names, each once
        missing = [n for n in specs if n not in feeds]
        raise HTTPError(400, f"missing input(s): {', '.join(missing)}")
    wanted = _requested_outputs(payload.get("outputs"), output_names, default_binary)
    return InferRequest(feeds, wanted, request_id)


def _requested_outputs(requested: Any, names: list[str], default: bool) -> list[tuple[str, bool]]:
    """(output name, as binary data) for each output to return."""
    if requested is None:
        return [(n, default) for n in names]
    if not isinstance(requested, list):
        raise HTTPError(400, f"'outputs' must be a list of objects with a 'name', got {_kind(requested)}")
    wanted = []
    for i, entry in enumerate(requested):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise HTTPError(400, f"outputs[{i}] must be an object with a 'name' (a string)")
        if name not in names:
            raise HTTPError(400, f"unknown output {name!r}; the model has {', '.join(names)}")
        parameters = _object(entry.get("parameters"), f"output {name!r}: 'parameters'")
        if "classification" in parameters:  # a silently ignored one would answer another shape
            raise HTTPError(
                400,
                f"output {name!r}: 'classification' (Triton's classification extension) is not"
                " supported here; ask for the tensor and take its top classes",
            )
        wanted.append((name, _flag(parameters, "binary_data", f"output {name!r}: 'parameters'", default)))
    return wanted


def _object(value: Any, field: str) -> dict:
    """`value` when it is an object, {} when absent; a 400 naming `field` otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HTTPError(400, f"{field} must be an object, got {_kind(value)}")
    return value


def _flag(parameters: dict, key: str, where: str, default: bool) -> bool:
    value = parameters.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise HTTPError(400, f"{where}.{key} must be true or false, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """The JSON type of a decoded value, as a client would call it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def parse_json(body: bytes) -> Any:
    """The decoded body, or a 400 when it is empty or not JSON."""
    if not body:
        raise HTTPError(400, "the body is empty; send a JSON object")
    try:
        return jsonio.loads(body)
    except jsonio.DecodeError as exc:
        raise HTTPError(400, f"the body is not valid JSON: {exc}") from None
