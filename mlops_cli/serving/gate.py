"""The health gate a new revision passes before it takes traffic: ready, then a smoke inference.

Shared by the local and docker targets, which reach a revision on its private gate socket
(a unix socket, so the check needs no free port and works through a mounted volume). The smoke
request comes from `deploy/` in `spec.options["smoke"]`: rows from the version's registered
dataset (`/invocations`) or rows synthesised from its signature (`/v2/.../infer`); without a
signature, from the metadata the server reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mlops_cli.errors import MlopsError

V2_TYPES = {
    "float": "FP32",
    "double": "FP64",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "bool": "BOOL",
    "string": "BYTES",
}


class GateError(MlopsError):
    """The revision did not prove itself; the message says at which step."""


def v2_specs(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Signature entries (ONNX dtypes, symbolic dims) as v2 specs (datatype, -1 for free dims)."""
    if not entries:
        return None
    specs = []
    for entry in entries:
        if entry.get("type", "tensor") != "tensor":
            specs.append({"name": entry["name"], "datatype": None, "shape": None})
            continue
        shape = entry.get("shape")
        specs.append(
            {
                "name": entry["name"],
                "datatype": V2_TYPES.get(str(entry.get("dtype")), str(entry.get("dtype")).upper()),
                "shape": None
                if shape is None
                else [d if isinstance(d, int) and d >= 0 else -1 for d in shape],
            }
        )
    return specs


def infer_body(inputs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    """A v2 request of `rows` rows: zeros, False or "a" for every value (seeded data is not needed:
    the gate checks that the model runs and answers in shape, not what it predicts)."""
    tensors = []
    for spec in inputs:
        shape = list(spec.get("shape") or [-1, 1])
        shape = [rows if i == 0 and d == -1 else (1 if d == -1 else d) for i, d in enumerate(shape)]
        count = 1
        for d in shape:
            count *= d
        datatype = spec["datatype"]
        value: Any = "a" if datatype == "BYTES" else (False if datatype == "BOOL" else 0)
        tensors.append({"name": spec["name"], "shape": shape, "datatype": datatype, "data": [value] * count})
    return {"inputs": tensors}


def _check_infer(outputs: list[dict[str, Any]] | None, answer: dict[str, Any], rows: int) -> str:
    got = {o.get("name"): o.get("shape") for o in answer.get("outputs") or []}
    if not got:
        raise GateError("the smoke inference returned no outputs")
    for spec in outputs or []:
        if spec.get("datatype") is None:
            continue  # a sequence or map output: no shape to compare
        shape = got.get(spec["name"])
        if shape is None:
            raise GateError(f"the smoke inference did not return the output {spec['name']!r}")
        want = spec.get("shape")
        if want is not None and len(want) == len(shape):
            for i, (w, g) in enumerate(zip(want, shape, strict=True)):
                expected = rows if (i == 0 and w == -1) else w
                if expected != -1 and expected != g:
                    raise GateError(
                        f"output {spec['name']!r} has shape {shape}, expected {want} with {rows} rows"
                    )
        elif want is not None:
            raise GateError(f"output {spec['name']!r} has shape {shape}, expected rank {len(want)}")
    return ", ".join(f"{name} {shape}" for name, shape in got.items())


def smoke(client: Any, smoke_spec: dict[str, Any], model: str) -> str:
    """Run the smoke request on `client` (a serving.httpclient client on the gate); return what it saw.

    A multi-model server (`kind: multi`) runs every model's own request at its own path."""
    try:
        if smoke_spec.get("kind") == "multi":
            return "; ".join(_smoke_one(client, each) for each in smoke_spec["models"])
        return _smoke(client, smoke_spec, f"/v2/models/{model}", "")
    except OSError as exc:
        raise GateError(f"the smoke inference got no answer: {exc}") from None


def _smoke_one(client: Any, each: dict[str, Any]) -> str:
    base = f"/v2/models/{each['model']}/versions/{each['version']}"
    try:
        return f"{each['model']}:{each['version']}: {_smoke(client, each, base, base)}"
    except GateError as exc:
        raise GateError(f"{each['model']}:{each['version']}: {exc.message}") from None


def _smoke(client: Any, smoke_spec: dict[str, Any], model_path: str, json_prefix: str) -> str:
    """`model_path` is the model's v2 path; `json_prefix` goes before /invocations."""
    if smoke_spec.get("kind") == "ready":  # an Azure-form entry script: its input is its own
        return f"{smoke_spec.get('source')}: init() succeeded, no request to synthesise"
    rows = int(smoke_spec.get("rows") or 2)
    if smoke_spec.get("kind") == "invocations":
        body = {"dataframe_split": {"columns": smoke_spec["columns"], "data": smoke_spec["data"]}}
        response = client.post(f"{json_prefix}/invocations", json=body)
        if response.status_code != 200:
            raise GateError(f"smoke /invocations answered {response.status_code}: {response.text[:300]}")
        predictions = response.json().get("predictions")
        if not isinstance(predictions, list) or len(predictions) != rows:
            raise GateError(f"smoke /invocations gave {len(predictions or [])} predictions for {rows} rows")
        return f"{rows} rows from {smoke_spec.get('source')} -> {rows} predictions"
    inputs, outputs = smoke_spec.get("inputs"), smoke_spec.get("outputs")
    if not inputs:  # no stored signature: use what the server says it takes
        meta = client.get(model_path)
        if meta.status_code != 200:
            raise GateError(f"model metadata answered {meta.status_code}: {meta.text[:300]}")
        inputs, outputs = meta.json()["inputs"], meta.json()["outputs"]
    response = client.post(f"{model_path}/infer", json=infer_body(inputs, rows))
    if response.status_code != 200:
        raise GateError(f"smoke inference answered {response.status_code}: {response.text[:300]}")
    shapes = _check_infer(outputs, response.json(), rows)
    return f"{rows} synthesised rows -> {shapes}"


def wait_ready(client: Any, timeout: float, alive: Callable[[], str | None], interval: float = 0.02) -> None:
    """Poll /v2/health/ready until 200; GateError when `alive()` reports a death or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        dead = alive()
        if dead:
            raise GateError(f"the new revision stopped before it was ready: {dead}")
        try:
            response = client.get("/v2/health/ready")
            if response.status_code == 200:
                return
            last = f"ready answered {response.status_code}"
            _refuse_failed_start(response)
        except OSError as exc:
            last = f"{type(exc).__name__}"
        if time.monotonic() > deadline:
            raise GateError(f"the new revision was not ready within {timeout:g} s ({last})")
        time.sleep(interval)


def _refuse_failed_start(response: Any) -> None:
    """A 503 that names an error (an entry script whose init() raised) will never turn ready."""
    if response.status_code != 503:
        return
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return
    if error:
        raise GateError(f"the new revision cannot serve: {error}")


def gate_client(uds: str, api_key: str | None = None) -> Any:
    from mlops_cli.serving.httpclient import Client

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return Client(uds=uds, timeout=10, headers=headers)


def tail(lines: list[str], n: int = 20) -> str:
    return "\n".join(lines[-n:])
