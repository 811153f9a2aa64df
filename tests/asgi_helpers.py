"""The scoring app driven in this process, without sockets: a real ServingApp over a real
onnxruntime session, called through its ASGI interface as uvicorn calls it. Fast enough for
property-based tests that send thousands of requests; `test_serve_http.py` covers the sockets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.serving.app import ServingApp
from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.config import ServeConfig


def served_app(
    onnx_path: Path,
    name: str,
    features: list[str] | None,
    class_labels: list | None = None,
    api_key_env: str | None = None,
    max_body_mb: float = 1.0,
) -> ServingApp:
    """A ready app serving the ONNX file as version 1 of `name` (no store involved)."""
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.runtime.session import file_digest

    signature = onnx_signature(onnx_path)
    signature["feature_names"] = features
    signature["class_labels"] = class_labels
    bundle = Bundle(onnx_path.parent, name, 1, file_digest(onnx_path), onnx_path.name, signature)
    config = ServeConfig(bundle="", api_key_env=api_key_env, max_body_mb=max_body_mb)
    from mlops_cli.serving.model import ServedModel

    app = ServingApp(config, ServedModel(bundle))
    app.ready = True
    return app


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self):
        return json.loads(self.body)


def call(
    app: ServingApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
    chunk: int | None = None,
) -> Response:
    """One request through the app's ASGI interface; `chunk` splits the body into messages."""
    if isinstance(headers, dict):
        headers = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    return _LOOP.run_until_complete(_call(app, method, path, body, list(headers or []), chunk))


_LOOP = asyncio.new_event_loop()  # one loop for every call: asyncio.run's set-up costs more than a call


async def _call(app, method, path, body, headers, chunk) -> Response:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk and body else [body]
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await app(scope, receive, send)
    start, *bodies = sent
    return Response(start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in bodies))


def post_json(app: ServingApp, path: str, payload, headers: dict[str, str] | None = None) -> Response:
    return call(
        app,
        "POST",
        path,
        json.dumps(payload).encode(),
        {"content-type": "application/json", **(headers or {})},
    )
