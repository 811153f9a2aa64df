"""The server for an entry-script version: the same app, with the script on the JSON endpoints.

Azure form: `POST /score` and `/invocations` call `run()` with the request (one call at a time
per worker, in a worker thread, as Azure's server does, so health checks stay answered). Hooks
form: `preprocess(request)` builds the graph's inputs, the ONNX session runs as for any version,
`postprocess(outputs, request)` shapes the answer; `/v2/.../infer` stays tensors in and out.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mlops_cli.serving import invocations, jsonio
from mlops_cli.serving.app import ServingApp, _require
from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.config import ServeConfig
from mlops_cli.serving.entry_script import EntryScript, encode_result
from mlops_cli.serving.errors import HTTPError
from mlops_cli.serving.v2request import parse_json


class ScriptModel:
    """What the app needs to know of a model whose script loads it: its name and version."""

    inputs: list = []
    outputs: list = []
    input_specs: dict = {}
    output_names: list = []
    missing_ok = False

    def __init__(self, bundle: Bundle) -> None:
        self.name = bundle.name
        self.version = str(bundle.version)


class EntryApp(ServingApp):
    """ServingApp with `/score`, and `/invocations` answered by the entry script."""

    def __init__(self, config: ServeConfig, bundle: Bundle) -> None:
        self.script = EntryScript(bundle)
        self.azure = self.script.form == "azure"
        if self.azure:
            model: Any = ScriptModel(bundle)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="entry-run")
        else:
            from mlops_cli.serving.model import ServedModel

            model = ServedModel(
                bundle, intra_op_threads=config.intra_op_threads, providers=tuple(config.providers)
            )
        super().__init__(config, model)

    def _route(self, method: str, path: str) -> tuple[str, Any, bool]:
        if path == "/score":
            return "score", self._score, _require(method, "POST")
        return super()._route(method, path)

    def _ready(self) -> tuple[int, bytes]:
        if self.script.init_error is not None:
            return 503, jsonio.dumps({"ready": False, "error": self.script.init_error})
        return super()._ready()

    async def _invocations(self, headers: dict, body: bytes, request_id: str) -> tuple[int, bytes, None]:
        return await self._score(headers, body, request_id)

    async def _infer(self, headers: dict, body: bytes, request_id: str) -> tuple[int, bytes, int | None]:
        if self.azure:
            raise HTTPError(
                400, "this version answers through its entry script's run(): POST /score or /invocations"
            )
        return await super()._infer(headers, body, request_id)

    async def _score(self, headers: dict, body: bytes, request_id: str) -> tuple[int, bytes, None]:
        script = self.script
        script.check_initialised(request_id)
        if self.azure:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, script.call_run, body, request_id)
            return 200, encode_result("run", result, request_id), None
        request = parse_json(body)
        if script.preprocess is not None:
            inputs = script.call("preprocess", request_id, script.preprocess, request)
            feeds = self._feeds(inputs)
        else:
            columns, rows = invocations.parse(request)
            feeds = self.model.feeds_from_table(columns, rows)
        outputs = await self._predict(feeds)
        if script.postprocess is None:
            return 200, jsonio.dumps({"predictions": self.model.rows_from_outputs(outputs)}), None
        response = script.call("postprocess", request_id, script.postprocess, outputs, request)
        return 200, encode_result("postprocess", response, request_id), None

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        """preprocess()'s result as the graph's feeds: every input by name, cast to its type."""
        specs = self.model.input_specs
        if not isinstance(inputs, dict):
            raise HTTPError(
                500, f"preprocess() must return a dict of the graph's inputs, not a {type(inputs).__name__}"
            )
        unknown = [str(n) for n in inputs if n not in specs]
        missing = [n for n in specs if n not in inputs]
        if unknown or missing:
            raise HTTPError(
                500,
                f"preprocess() returned inputs {sorted(map(str, inputs))}; the graph takes {list(specs)}",
            )
        feeds = {}
        for name, value in inputs.items():
            dtype = specs[name].dtype
            feeds[name] = (
                value
                if isinstance(value, np.ndarray) and value.dtype == dtype
                else _array(value, dtype, name)
            )
        return feeds


def _array(value: Any, dtype: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise HTTPError(400, f"input {name!r} from preprocess(): {exc}") from None
