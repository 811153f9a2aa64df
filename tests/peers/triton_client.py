"""Run by tritonclient's own virtualenv (.venv-peers/tritonclient), never imported by the tests.

Drives a server with NVIDIA's `tritonclient.http`, as a user's code calls it, and prints what it
got as one JSON object for tests/integration/test_serve_tritonclient.py to compare with
onnxruntime. Usage: python triton_client.py URL ROWS.npy
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.http as http
from tritonclient.utils import InferenceServerException


def infer(client, model, arrays, binary, **options):
    """One infer call; every output asked for, as binary data or JSON; the answers as lists."""
    inputs = []
    for name, (datatype, array) in arrays.items():
        tensor = http.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    names = [o["name"] for o in client.get_model_metadata(model)["outputs"]]
    outputs = [http.InferRequestedOutput(name, binary_data=binary) for name in names]
    result = client.infer(model, inputs, outputs=outputs, **options)
    return {"id": result.get_response()["id"], **{name: listed(result.as_numpy(name)) for name in names}}


def listed(array):
    if array.dtype == object:  # BYTES
        return [v.decode() if isinstance(v, bytes) else v for v in array.ravel().tolist()]
    return array.tolist()


def refused(call):
    try:
        call()
    except InferenceServerException as exc:
        return {"status": str(exc.status()), "message": exc.message()}
    return {"status": "200"}


def main(url: str, rows_path: str) -> None:
    rows = np.load(rows_path).astype(np.float32)
    client = http.InferenceServerClient(url)
    metadata = client.get_model_metadata("clf")
    version = metadata["versions"][0]
    clf = {"X": ("FP32", rows)}
    mixed = {
        "city": ("BYTES", np.array([[b"a"], [b"c"], [b"never-seen"]], dtype=object)),
        "age": ("FP32", np.array([[0.5], [-1.0], [2.0]], dtype=np.float32)),
        "count": ("INT64", np.array([[1], [4], [0]], dtype=np.int64)),
    }
    report = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("clf") and client.is_model_ready("mixed"),
        "server": client.get_server_metadata(),
        "metadata": metadata,
        "clf": {
            "json": infer(client, "clf", clf, False, request_id="tc-1"),
            "binary": infer(client, "clf", clf, True, model_version=version),
            "gzip": infer(client, "clf", clf, True, request_compression_algorithm="gzip"),
            "deflate": infer(client, "clf", clf, False, request_compression_algorithm="deflate"),
            "gzip_response": infer(client, "clf", clf, True, response_compression_algorithm="gzip"),
        },
        "mixed": {
            "json": infer(client, "mixed", mixed, False),
            "binary": infer(client, "mixed", mixed, True),
        },
        "async": listed(
            client.async_infer("clf", [tensor_of("X", "FP32", rows)]).get_result().as_numpy("probabilities")
        ),
        "errors": {
            "shape": refused(lambda: client.infer("clf", [tensor_of("X", "FP32", rows[:, :3].copy())])),
            "datatype": refused(
                lambda: client.infer("clf", [tensor_of("X", "FP64", rows.astype(np.float64))])
            ),
            "model": refused(lambda: client.infer("nope", [tensor_of("X", "FP32", rows)])),
            "classification": refused(
                lambda: client.infer(
                    "clf",
                    [tensor_of("X", "FP32", rows)],
                    outputs=[http.InferRequestedOutput("probabilities", class_count=1)],
                )
            ),
            "version": refused(
                lambda: client.infer("clf", [tensor_of("X", "FP32", rows)], model_version="99")
            ),
        },
    }
    client.close()
    print(json.dumps(report))


def tensor_of(name, datatype, array):
    tensor = http.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=True)
    return tensor


if __name__ == "__main__":
    main(*sys.argv[1:])
