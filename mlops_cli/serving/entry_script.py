"""Loading a version's entry script and calling it, with failures turned into 500s.

The script sees its model files as Azure ML lays them out: `AZUREML_MODEL_DIR` holds a
registered file at its top, a registered folder under the folder's own name; `MLOPS_MODEL_DIR`
is the version's folder itself. Its code folder is on `sys.path`. `init()` runs once per
worker; if it raises, the worker keeps serving and answers every scoring request with the
error (and readiness with 503), so a deploy gate refuses the revision.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlops_cli.serving import jsonio
from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.errors import HTTPError

log = logging.getLogger("mlops.serving")


class EntryScript:
    """The script's module, loaded and initialised (or the error its init raised)."""

    def __init__(self, bundle: Bundle) -> None:
        entry = bundle.entry or {}
        self.form = entry.get("form")
        root = bundle.root.absolute()
        os.environ["MLOPS_MODEL_DIR"] = str(root)
        os.environ["AZUREML_MODEL_DIR"] = azure_model_dir(root, entry.get("azure_folder"))
        code = str(root / entry.get("code", "mlops-entry/code"))
        if code not in sys.path:
            sys.path.insert(0, code)
        self.init_error: str | None = None
        self.module: Any = None
        try:
            self.module = _load(root / entry["script"])
            init = getattr(self.module, "init", None)
            if init is not None:
                init()
        except BaseException as exc:  # noqa: BLE001 - SystemExit in init too: report, keep serving
            if isinstance(exc, KeyboardInterrupt):
                raise
            log.exception("the entry script's init() failed")
            self.init_error = describe("init", exc)
        self.run = getattr(self.module, "run", None)
        self.preprocess = getattr(self.module, "preprocess", None)
        self.postprocess = getattr(self.module, "postprocess", None)
        self.keyword_run = _schema_decorated(self.run)

    def check_initialised(self, request_id: str) -> None:
        if self.init_error is not None:
            raise HTTPError(500, f"{self.init_error} (request id {request_id})")

    def call(self, stage: str, request_id: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """`function(*args)`; a 500 naming the stage, exception type and message if it raises."""
        self.check_initialised(request_id)
        try:
            return function(*args, **kwargs)
        except HTTPError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code: a 500, traceback to the log
            log.exception("%s() failed (request id %s)", stage, request_id)
            raise HTTPError(500, f"{describe(stage, exc)} (request id {request_id})") from None

    def call_run(self, body: bytes, request_id: str) -> Any:
        """`run` called with a request's body; a 500 naming the exception if it raises."""
        return self.call("run", request_id, self.run_body, body)

    def run_body(self, body: bytes) -> Any:
        """Azure's calling convention: the raw body as text, or the parsed JSON object as keyword
        arguments when `run` carries inference_schema's decorators (they convert the types).
        Raises what `run` raises (batch scoring reports it per row), HTTPError for a bad body."""
        if self.keyword_run:
            try:
                payload = jsonio.loads(body)
            except jsonio.DecodeError as exc:
                raise HTTPError(400, f"the body is not valid JSON: {exc}") from None
            if not isinstance(payload, dict):
                raise HTTPError(400, "the body must be a JSON object naming run()'s parameters")
            return self.run(**payload)
        return self.run(body.decode("utf-8", errors="replace"))


def encode_result(stage: str, value: Any, request_id: str) -> bytes:
    """The user's result as JSON; a 500 saying so when it cannot be serialised."""
    try:
        return jsonio.dumps(value)
    except (TypeError, ValueError) as exc:
        log.error(
            "%s() returned %s, which is not JSON-serialisable (request id %s)", stage, type(value), request_id
        )
        raise HTTPError(
            500,
            f"{stage}() returned a {type(value).__name__}, which is not JSON-serialisable:"
            f" {type(exc).__name__}: {exc} (request id {request_id})",
        ) from None


def describe(stage: str, exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{stage}() raised {type(exc).__name__}" + (f": {message}" if message else "")


def azure_model_dir(root: Path, folder: str | None) -> str:
    """A registered file sits at the top of AZUREML_MODEL_DIR; a folder under its own name, so a
    private folder holding one link named after it stands in for Azure's layout."""
    if not folder:
        return str(root)
    holder = Path(tempfile.mkdtemp(prefix="mlops-azureml-model-dir-"))  # owner-only
    atexit.register(shutil.rmtree, holder, True)
    (holder / folder).symlink_to(root, target_is_directory=True)
    return str(holder)


def _load(path: Path) -> Any:
    name = path.stem if path.stem not in sys.modules else f"mlops_entry_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _schema_decorated(run: Any) -> bool:
    """True when inference_schema (if the environment has it) decorated `run` with inputs."""
    if run is None or "inference_schema" not in sys.modules:
        return False
    try:
        from inference_schema.schema_util import get_input_schema, is_schema_decorated
    except ImportError:
        return False
    try:
        return bool(is_schema_decorated(run) and get_input_schema(run))
    except Exception:  # noqa: BLE001 - an unexpected version of the package: call it as Azure v1 did
        return False
