"""Shared by the serving and packaging tests: test models, a project made outside the autouse
fixture (for module-scoped servers), and a real `mlops serve` process on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx

ACTOR = "tester@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mixed_onnx(folder: Path) -> Path:
    """A pipeline with a string, a float and an int64 input (one input per column)."""
    import pandas as pd
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["a", "b", "c"], 60),
            "age": rng.normal(size=60).astype(np.float32),
            "count": rng.integers(0, 5, 60),
        }
    )
    target = (frame.age > 0).astype(int)
    columns = ColumnTransformer(
        [("oh", OneHotEncoder(handle_unknown="ignore"), ["city"]), ("num", "passthrough", ["age", "count"])]
    )
    pipe = Pipeline([("ct", columns), ("lr", LogisticRegression())]).fit(frame, target)
    types = [
        ("city", StringTensorType([None, 1])),
        ("age", FloatTensorType([None, 1])),
        ("count", Int64TensorType([None, 1])),
    ]
    onx = to_onnx(
        pipe,
        initial_types=types,
        options={LogisticRegression: {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    path = folder / "mixed.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def failing_onnx(folder: Path) -> Path:
    """A valid graph that fails at run time (reshapes 4 values per row into 3): a 500 case."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["X", "shape"], ["Y"])],
        "failing",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [helper.make_tensor("shape", TensorProto.INT64, [1], [3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / "failing.onnx"
    onnx.save(model, str(path))
    return path


def make_project(folder: Path) -> Path:
    """An initialised store in `folder` (the autouse fixture's project is per test)."""
    from mlops_cli.audit.provenance import current_actor, provenance
    from mlops_cli.store import init_store

    os.environ.setdefault("MLOPS_ACTOR", ACTOR)
    current_actor.cache_clear()
    folder.mkdir(parents=True, exist_ok=True)
    store, _ = init_store(folder, provenance())
    store.close()
    return folder


def register_test_models(project: Path) -> None:
    """`clf` (4 features f0..f3, classes no/yes), `mixed` (string/float/int64 inputs) and
    `failing` (fails inside onnxruntime)."""
    from mlops_cli.store import open_store

    store = open_store(project)
    try:
        register_onnx(store, logistic_onnx(project, labels=["no", "yes"]), "clf", class_labels=["no", "yes"])
        register_onnx(store, mixed_onnx(project), "mixed", features=None)
        register_onnx(store, failing_onnx(project), "failing", features=None)
    finally:
        store.close()


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def start_server(
    project: Path, ref: str, *args: str, env: dict | None = None, log_name: str = "serve"
) -> Server:
    """`mlops serve REF ARGS...` on a free port; returns once /v2/health/ready answers 200."""
    port = free_port()
    log = project / f"{log_name}-{port}.log"
    full_env = {**os.environ, "MLOPS_ACTOR": ACTOR, **(env or {})}
    full_env.pop("MLOPS_STORE", None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops_cli", "serve", ref, "--port", str(port), *args],
            cwd=project,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    wait_ready(server)
    return server


def wait_ready(server: Server, path: str = "/v2/health/ready", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"the server did not become ready:\n{server.log.read_text()}")


def infer_body(rows: np.ndarray, datatype: str = "FP32", name: str = "X") -> dict:
    return {
        "inputs": [
            {"name": name, "shape": list(rows.shape), "datatype": datatype, "data": rows.ravel().tolist()}
        ]
    }


__all__ = [
    "FEATURES",
    "Server",
    "free_port",
    "infer_body",
    "make_project",
    "register_test_models",
    "start_server",
]
