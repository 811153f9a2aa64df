"""The reference for `mlops serve`'s speed: a minimal raw-ASGI + onnxruntime server.

What a careful engineer would write in an afternoon for one model: route by comparing the path,
read the body, orjson, `np.asarray(data, float32).reshape(shape)`, `session.run`, orjson out.
No validation beyond what numpy and onnxruntime do themselves, no metrics, no request ids.
`mlops serve` keeps every validation rule; the benchmark compares the two under the same
uvicorn settings (httptools, uvloop, no access log).

    MINIMAL_MODEL=model.onnx MINIMAL_NAME=forest uvicorn minimal_server:app --port 8000
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
import orjson

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_options.inter_op_num_threads = 1
_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
session = ort.InferenceSession(os.environ["MINIMAL_MODEL"], _options, providers=["CPUExecutionProvider"])
NAME = os.environ.get("MINIMAL_NAME", "model")
INFER = f"/v2/models/{NAME}/infer"
OUTPUTS = [o.name for o in session.get_outputs()]
HEADERS = [(b"content-type", b"application/json")]


# MINIMAL_PART (bench_serve.py --breakdown): what one request costs part by part, each part a
# server of its own: "static" answers a fixed body (the HTTP layer alone), "run" adds the model
# call on a fixed array (no JSON), "decode" adds reading the body's JSON into the array.
PART = os.environ.get("MINIMAL_PART", "")
_FIXED = np.zeros(
    [1, *[d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape[1:]]], np.float32
)
_STATIC = b'{"outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}'


async def app(scope, receive, send):
    if PART and scope["type"] == "http":
        await _part(scope["method"], receive, send)
        return
    await _app(scope, receive, send)


async def _part(method, receive, send):
    message = await receive()
    if method != "POST":  # the readiness probe
        pass
    elif PART == "decode":
        tensor = orjson.loads(message["body"])["inputs"][0]
        values = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        session.run(None, {session.get_inputs()[0].name: values})
    elif PART == "run":
        session.run(None, {session.get_inputs()[0].name: _FIXED})
    await _answer(send, 200, _STATIC)


async def _app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/v2/health/ready":
        await _answer(send, 200, b'{"ready":true}')
        return
    if scope["path"] != INFER:
        await _answer(send, 404, b'{"error":"not found"}')
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    tensor = orjson.loads(body)["inputs"][0]
    array = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    values = session.run(None, {tensor["name"]: array})
    outputs = [
        {"name": n, "datatype": "FP32", "shape": list(v.shape), "data": v.ravel()}
        for n, v in zip(OUTPUTS, values, strict=True)
    ]
    await _answer(send, 200, orjson.dumps({"outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY))


async def _answer(send, status: int, payload: bytes) -> None:
    headers = [*HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
