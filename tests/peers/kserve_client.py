"""Run by KServe's own virtualenv (.venv-peers/kserve), never imported by the tests.

Drives a server with KServe's `InferenceRESTClient` (protocol v2), as a user's code calls it, and
prints what it got as one JSON object for tests/integration/test_serve_peer_clients.py to compare
with onnxruntime. Usage: python kserve_client.py BASE_URL ROWS.npy
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.rest import v2_datamodels as v2

# Each endpoint's answer and the pydantic model KServe's own server answers it with.
SCHEMAS = {
    "/v2": v2.ServerMetadataResponse,
    "/v2/models": v2.ListModelsResponse,
    "/v2/health/live": v2.ServerLiveResponse,
    "/v2/health/ready": v2.ServerReadyResponse,
    "/v2/models/clf": v2.ModelMetadataResponse,
    "/v2/models/mixed": v2.ModelMetadataResponse,
    "/v2/models/clf/ready": v2.ModelReadyResponse,
}


def schema_problems(base: str, rows) -> dict:
    """Each answer validated by KServe's own data model of the protocol: {path: errors}."""
    problems = {}
    with httpx.Client(base_url=base) as http:
        answers = {path: http.get(path) for path in SCHEMAS}
        body = {
            "inputs": [
                {"name": "X", "shape": list(rows.shape), "datatype": "FP32", "data": rows.ravel().tolist()}
            ]
        }
        answers["infer"] = http.post("/v2/models/clf/infer", json=body)
        request = v2.InferenceRequest.model_validate(body)  # what a KServe server would accept
        assert request.inputs[0].name == "X"
    for path, answer in answers.items():
        model = SCHEMAS.get(path, v2.InferenceResponse)
        try:
            answer.raise_for_status()
            model.model_validate(answer.json())
        except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError or an HTTP status
            problems[path] = str(exc)
    return problems


def listed(array):
    if array.dtype == object:  # BYTES
        return [v.decode() if isinstance(v, bytes) else v for v in array.ravel().tolist()]
    return array.tolist()


async def infer(client, base, model, arrays, binary, **options):
    inputs = []
    for name, (datatype, array) in arrays.items():
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    request = InferRequest(model_name=model, infer_inputs=inputs, **options)
    response = await client.infer(base, request, model_name=model)
    return {"id": response.id, **{o.name: listed(o.as_numpy()) for o in response.outputs}}


async def refused(call):
    try:
        await call
    except Exception as exc:  # noqa: BLE001 - httpx's HTTPStatusError, whatever the version names it
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return {"status": str(status), "message": str(exc)}
    return {"status": "200"}


async def main(base: str, rows_path: str) -> None:
    rows = np.load(rows_path).astype(np.float32)
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    clf = {"X": ("FP32", rows)}
    mixed = {
        "city": ("BYTES", np.array([["a"], ["c"], ["never-seen"]], dtype=object)),
        "age": ("FP32", np.array([[0.5], [-1.0], [2.0]], dtype=np.float32)),
        "count": ("INT64", np.array([[1], [4], [0]], dtype=np.int64)),
    }
    bad = InferInput("X", [len(rows), 3], "FP32")
    bad.set_data_from_numpy(rows[:, :3].copy())
    report = {
        "live": await client.is_server_live(base),
        "ready": await client.is_server_ready(base),
        "model_ready": await client.is_model_ready(base, "clf")
        and await client.is_model_ready(base, "mixed"),
        "clf": {
            "json": await infer(client, base, "clf", clf, False, request_id="ks-1"),
            "binary": await infer(client, base, "clf", clf, True),
        },
        "mixed": {
            "json": await infer(client, base, "mixed", mixed, False),
            "binary": await infer(client, base, "mixed", mixed, True),
        },
        "schema_problems": schema_problems(base, rows),
        "errors": {
            "shape": await refused(
                client.infer(base, InferRequest(model_name="clf", infer_inputs=[bad]), "clf")
            ),
            "unknown_model_ready": await client.is_model_ready(base, "nope"),  # v2: a 4xx reads as False
        },
    }
    await client.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
