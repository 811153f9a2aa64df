"""The scoring server as one raw ASGI callable.

No framework: a request for a one-row prediction spends most of its time in routing and JSON
when the model is small, so the app does its own routing with string operations and writes
responses directly. Every failure becomes a JSON `{"error": ...}` with the right status; an
unexpected one is a 500 without a traceback (that goes to the log), and the server keeps going.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import time
import uuid
from typing import Any

from mlops_cli import __version__
from mlops_cli.runtime.mapping import InputError
from mlops_cli.serving import invocations, jsonio
from mlops_cli.serving.auth import BearerAuth
from mlops_cli.serving.batcher import MicroBatcher
from mlops_cli.serving.bodies import CSV, HEADER_LENGTH, JSON, OCTETS, BodyReader, media_type
from mlops_cli.serving.bundle import read_bundle
from mlops_cli.serving.codec import encode_binary, encode_tensor
from mlops_cli.serving.config import ServeConfig
from mlops_cli.serving.errors import HTTPError
from mlops_cli.serving.metrics import Metrics
from mlops_cli.serving.metrics_share import SharedMetrics
from mlops_cli.serving.v2request import decode_request, parse_json

log = logging.getLogger("mlops.serving")

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health"})
TEXT = b"text/plain; charset=utf-8"
# GET /v2 (the v2 protocol's server metadata: all three fields are required).
SERVER_METADATA = {"name": "mlops", "version": __version__, "extensions": ["binary_tensor_data"]}
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"


class ServingApp:
    """One model behind the v2, MLflow-style and Prometheus endpoints."""

    def __init__(self, config: ServeConfig, model: Any = None) -> None:
        self.config = config
        if model is None:
            from mlops_cli.serving.model import ServedModel

            model = ServedModel(
                read_bundle(config.bundle),
                intra_op_threads=config.intra_op_threads,
                providers=tuple(config.providers),
            )
        self.model = model
        self.missing_ok = bool(getattr(model, "missing_ok", False))
        self.metrics = Metrics(model.name, model.version)
        self.shared: SharedMetrics | None = None  # with several workers: one /metrics for all
        self.auth = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env, "")
            if not key:
                raise RuntimeError(f"the API key variable {config.api_key_env} is empty or unset")
            self.auth = BearerAuth(key)
        self.bodies = BodyReader(config.max_body_bytes, config.max_body_mb)
        self.collector = None
        if config.collect_dir:
            from mlops_cli.serving.collector import Collector

            self.collector = Collector(
                config.collect_dir,
                model.collect_columns,
                model.name,
                model.version,
                self.metrics,
                queue_size=config.collect_queue_size,
                rows_per_file=config.collect_rows_per_file,
                rotate_seconds=config.collect_rotate_seconds,
            )
        self.batcher = None
        if config.batch_max_size > 1:
            self.batcher = MicroBatcher(
                model.run, self.metrics, config.batch_max_size, config.batch_max_latency_ms / 1000
            )
        # Request ids: this process's random half and a counter (uuid4 per request costs a
        # getrandom call, a few microseconds of a ~100 us request); 32 hex digits as uuid4's.
        self._id_prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count()
        self._routes: dict[tuple[str, str], tuple[str, Any, bool]] = {}
        self.ready = False
        self.draining = False  # set when a newer revision took the listener: close keep-alives
        self._metadata = jsonio.dumps(
            {
                "name": model.name,
                "versions": [model.version],
                "platform": "onnxruntime_onnx",
                "inputs": [s.to_dict() for s in model.inputs],
                "outputs": [s.to_dict() for s in model.outputs],
            }
        )
        self._server = jsonio.dumps(SERVER_METADATA)

    # --- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.batcher is not None:
                    self.batcher.start()
                # Everything loaded so far (modules, the model) lives as long as the process:
                # out of the collector's sight, full collections no longer walk it.
                gc.freeze()
                self.start_sharing()
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn sends this after in-flight requests finished: flush what was collected.
                self.ready = False
                if self.batcher is not None:
                    await self.batcher.stop()
                if self.collector is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.collector.close)
                await self.stop_sharing()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_sharing(self) -> None:
        """With several workers (a folder from the parent), /metrics answers for all of them."""
        if self.config.metrics_dir:
            self.shared = SharedMetrics(self.config.metrics_dir, self.metrics)
            self.shared.start()

    async def stop_sharing(self) -> None:
        if self.shared is not None:
            await self.shared.stop()

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        start = time.perf_counter()
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id")
        request_id = given.decode("latin-1")[:128] if given else f"{self._id_prefix}{next(self._ids):016x}"
        endpoint = "other"
        content_type = JSON
        extra: list[tuple[bytes, bytes]] = []
        try:
            if self.auth is not None and path not in OPEN_PATHS:
                # Before routing: a request without the key learns nothing (not even a 404's
                # "this server serves ...") but 401.
                self.auth.check(headers.get(b"authorization"))
            route = self._routes.get((method, path))
            if route is None:
                route = self._route(method, path)
                if len(self._routes) < MAX_CACHED_ROUTES:
                    self._routes[(method, path)] = route  # only paths that exist reach here
            endpoint, handler, want = route
            body = b""
            if method == "POST":
                body = await self.bodies.read(headers, receive, endpoint)
            if want:
                status, payload, binary_header = await handler(headers, body, request_id)
                if binary_header is not None:
                    content_type = OCTETS
                    extra.append((HEADER_LENGTH, str(binary_header).encode()))
            else:
                status, payload = handler()
            if endpoint == "metrics":
                content_type = PROMETHEUS
            elif endpoint == "version":
                content_type = TEXT
        except HTTPError as exc:
            status, payload = exc.status, _error(endpoint, exc.status, exc.message)
        except InputError as exc:  # the runtime's word for values that cannot reach the model
            status, payload = 400, _error(endpoint, 400, exc.message)
        except Exception:  # noqa: BLE001 - a 500 for the client, the traceback for the log
            log.exception("request %s %s (id %s) failed", method, path, request_id)
            status = 500
            payload = _error(endpoint, 500, f"internal server error (request id {request_id})")
        if status == 401:
            extra.append((b"www-authenticate", b"Bearer"))
        elif status >= 400:
            content_type, extra = JSON, []
        if self.draining:
            extra.append((b"connection", b"close"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_id.encode("latin-1")),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        elapsed = time.perf_counter() - start
        self.metrics.request(endpoint, status, elapsed)
        if self.collector is not None and endpoint in SCORING_ENDPOINTS:
            self.collector.submit_call(request_id, endpoint, status, elapsed)

    def _route(self, method: str, path: str) -> tuple[str, Any, bool]:
        """(endpoint label, handler, handler takes the request) or a 404/405."""
        if path.startswith("/v2/models/"):
            parts = path[len("/v2/models/") :].split("/")
            name, rest = parts[0], parts[1:]
            version = None
            if len(rest) >= 2 and rest[0] == "versions":
                version, rest = rest[1], rest[2:]
            action = rest[0] if len(rest) == 1 else ("" if not rest else None)
            if action == "infer":
                self._check_model(name, version)
                return "infer", self._infer, _require(method, "POST")
            if action in ("", "ready"):
                self._check_model(name, version)
                _require(method, "GET")
                if action == "ready":
                    return "model_ready", self._model_ready, False
                return "model_metadata", lambda: (200, self._metadata), False
            raise HTTPError(404, f"no such endpoint: {path}")
        simple = _SIMPLE.get(path)
        if simple is None:
            raise HTTPError(404, f"no such endpoint: {path}")
        endpoint, wanted = simple
        _require(method, wanted)
        handler = getattr(self, f"_{endpoint}")
        return endpoint, handler, endpoint == "invocations"

    def _check_model(self, name: str, version: str | None) -> None:
        if name != self.model.name:
            raise HTTPError(404, f"unknown model {name!r}; this server serves {self.model.name!r}")
        if version is not None and version != self.model.version:
            raise HTTPError(
                404,
                f"unknown version {version!r} of {name!r}; this server serves version {self.model.version}",
            )

    # --- endpoints ---------------------------------------------------------------------------

    def _server_metadata(self) -> tuple[int, bytes]:
        return 200, self._server

    def _models(self) -> tuple[int, bytes]:
        return 200, jsonio.dumps({"models": [self.model.name]})

    def _live(self) -> tuple[int, bytes]:
        return 200, b'{"live":true}'

    def _ready(self) -> tuple[int, bytes]:
        if not self.ready:
            return 503, b'{"ready":false}'
        return 200, b'{"ready":true}'

    def _ping(self) -> tuple[int, bytes]:
        return (200, b'{"status":"ok"}') if self.ready else (503, b'{"status":"starting"}')

    _health = _ping  # MLflow's scoring server answers both

    def _version(self) -> tuple[int, bytes]:
        """The server's version as plain text, as MLflow's `/version` gives its own."""
        return 200, __version__.encode()

    def _model_ready(self) -> tuple[int, bytes]:
        return 200, jsonio.dumps({"name": self.model.name, "ready": self.ready})

    def _metrics(self) -> tuple[int, bytes]:
        return 200, self.metrics.render() if self.shared is None else self.shared.render()

    async def _infer(self, headers: dict, body: bytes, request_id: str) -> tuple[int, bytes, int | None]:
        model = self.model
        request = decode_request(
            body, headers.get(HEADER_LENGTH), model.input_specs, model.output_names, self.missing_ok
        )
        feeds = request.feeds
        outputs = self._run_now(feeds) if self.batcher is None else await self._predict(feeds)
        if self.collector is not None:
            self.collector.submit(request_id, "infer", feeds, outputs)
        entries, blobs = [], []
        for name, as_binary in request.outputs:
            if as_binary:
                entry, blob = encode_binary(name, outputs[name])
                entries.append(entry)
                blobs.append(blob)
            else:
                entries.append(encode_tensor(name, outputs[name]))
        response = {
            "model_name": model.name,
            "model_version": model.version,
            "id": request.id or request_id,
            "outputs": entries,
        }
        head = jsonio.dumps(response)
        if not blobs:
            return 200, head, None
        return 200, head + b"".join(blobs), len(head)

    async def _invocations(self, headers: dict, body: bytes, request_id: str) -> tuple[int, bytes, None]:
        raw = headers.get(b"content-type")
        if raw != JSON and media_type(raw)[0] == CSV:
            columns, rows = invocations.parse_csv(body)
            feeds = self.model.feeds_from_text(columns, rows)
        else:
            columns, rows = invocations.parse(parse_json(body))
            feeds = self.model.feeds_from_table(columns, rows)
        outputs = await self._predict(feeds)
        self._collect(request_id, "invocations", feeds, outputs)
        return 200, jsonio.dumps({"predictions": self.model.rows_from_outputs(outputs)}), None

    async def _predict(self, feeds: dict) -> dict:
        if self.batcher is None:
            return self._run_now(feeds)
        rows = _rows(feeds)
        outputs = await self.batcher.submit(feeds)
        self.metrics.rows += rows
        return outputs

    def _run_now(self, feeds: dict) -> dict:
        """The model called on this request alone (no micro-batching): no await on the way."""
        outputs = self.model.run(feeds)
        rows = _rows(feeds)
        self.metrics.batch_sizes.observe("", rows)
        self.metrics.rows += rows
        return outputs

    def _collect(self, request_id: str, endpoint: str, feeds: dict, outputs: dict) -> None:
        if self.collector is not None:
            self.collector.submit(request_id, endpoint, feeds, outputs)


MAX_CACHED_ROUTES = 64  # routing results kept per (method, path): the few paths clients use

# Requests whose outcome (status, latency) the collector logs for `mlops monitor`.
SCORING_ENDPOINTS = frozenset({"infer", "invocations"})

_SIMPLE = {
    "/v2": ("server_metadata", "GET"),
    "/v2/models": ("models", "GET"),  # KServe's model list
    "/v2/health/live": ("live", "GET"),
    "/v2/health/ready": ("ready", "GET"),
    "/invocations": ("invocations", "POST"),
    "/ping": ("ping", "GET"),
    "/health": ("health", "GET"),
    "/version": ("version", "GET"),
    "/metrics": ("metrics", "GET"),
}


# MLflow's scoring server answers /invocations errors as {"error_code": ..., "message": ...}.
_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    500: "INTERNAL_ERROR",
}


def _error(endpoint: str, status: int, message: str) -> bytes:
    """`{"error": ...}`; on /invocations also MLflow's `error_code` and `message`."""
    if endpoint == "invocations":
        code = _MLFLOW_CODES.get(status, "BAD_REQUEST")
        return jsonio.dumps({"error": message, "error_code": code, "message": message})
    return jsonio.dumps({"error": message})


def _require(method: str, wanted: str) -> bool:
    if method != wanted:
        raise HTTPError(405, f"use {wanted} for this endpoint")
    return True


def _rows(feeds: dict) -> int:
    first = next(iter(feeds.values()))
    return int(first.shape[0]) if first.ndim else 1
