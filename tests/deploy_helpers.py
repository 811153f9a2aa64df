"""Shared by the deploy tests and benchmarks/bench_deploy.py: a project with v1, v2 and broken
versions of one model, the `mlops` command as a subprocess, and a bounded HTTP load that counts
every failed request (fresh connections and keep-alive clients on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.onnx_helpers import FEATURES, logistic_onnx, register_onnx, to_onnx_file, training_data
from tests.serving_helpers import ACTOR, failing_onnx, make_project

BODY = {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4] * 2}]}


def deploy_project(folder: Path) -> Path:
    """`m` versions 1 and 2 (two classifiers), 3 (fails every inference: the smoke test refuses
    it) and 4 (not an ONNX graph: the server dies at start-up); `sk` is not ONNX at all."""
    from sklearn.tree import DecisionTreeClassifier

    from mlops_cli.models.registering import register_model
    from mlops_cli.store import open_store

    project = make_project(folder)
    store = open_store(project)
    try:
        register_onnx(store, logistic_onnx(project), "m")
        x, y = training_data()
        tree = to_onnx_file(DecisionTreeClassifier(max_depth=2).fit(x, y), x, project / "tree.onnx")
        register_onnx(store, tree, "m")
        broken = failing_onnx(project)
        register_onnx(store, broken, "m", features=None)
        register_onnx(store, unloadable_onnx(project), "m", features=None)
        pickled = project / "model.pkl"
        pickled.write_bytes(b"\x80\x04K\x01.")
        register_model(store, pickled, name="sk", framework="sklearn")
    finally:
        store.close()
    return project


def unloadable_onnx(folder: Path) -> Path:
    """A well-formed graph onnxruntime cannot load (an operator nobody implements)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["X"], ["Y"], domain="mlops.test")],
        "unloadable",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("mlops.test", 1)]
    )
    model.ir_version = 8
    path = folder / "unloadable.onnx"
    onnx.save(model, str(path))
    return path


def mlops(project: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLOPS_ACTOR": ACTOR}
    env.pop("MLOPS_STORE", None)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *map(str, args)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, f"mlops {' '.join(map(str, args))}: {done.stderr}"
    return done


def mlops_json(project: Path, *args: str) -> dict:
    return json.loads(mlops(project, *args, "--json").stdout)


class Load:
    """Requests at about `rate` per second from `clients` connections until the block ends: half
    keep a connection alive, half open a fresh one per request; a 200 that is not the inference
    JSON is a failure. The product's load generator (`profile.loadgen`) in a thread."""

    def __init__(self, url: str, rate: float = 200.0, clients: int = 4) -> None:
        from urllib.parse import urlsplit

        from mlops_cli.profile.loadgen import BackgroundLoad, request_bytes, served_version

        where = urlsplit(url)
        payload = request_bytes(where.hostname, where.port, "/v2/models/m/infer", json.dumps(BODY).encode())
        self._load = BackgroundLoad(
            where.hostname, where.port, payload, clients, rate, mode="both", label=served_version, timeout=30
        )
        self.ok, self.failed, self.failures, self.versions = 0, 0, [], {}

    def __enter__(self) -> Load:
        self._load.start()
        return self

    def __exit__(self, *exc: object) -> None:
        result = self._load.stop()
        self.ok, self.failed, self.failures = result.ok, result.failed, result.reasons
        self.versions = result.labels

    @property
    def total(self) -> int:
        return self.ok + self.failed


def server_pids(project: Path, name: str) -> list[int]:
    """Server processes of deployment NAME still running: their --control socket is in its run/
    folder (directly, or through the short /tmp link the deployer makes for long paths)."""
    run = os.path.realpath(project / ".mlops" / "deployments" / name / "run")
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "mlops_cli.serving" not in argv or "--control" not in argv or state == "Z":
            continue
        control = argv[argv.index("--control") + 1]
        if os.path.realpath(os.path.dirname(control)) == run:
            pids.append(int(entry.name))
    return sorted(pids)


def listening_pids(port: int) -> list[int]:
    """Processes holding a TCP socket that listens on PORT (any address), read from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            pids.append(int(entry.name))
    return sorted(pids)


def server_side_nodelay(pid: int, client: socket.socket) -> int:
    """TCP_NODELAY as the server process `pid` has it on its end of `client`'s connection.

    The server's descriptor is found by the connection's inode (/proc/net/tcp) and copied into
    this process with pidfd_getfd(2) (Linux 5.6+, needs ptrace rights: root here), then read
    back with getsockopt: what the server really set, not what the client sees.
    """
    import ctypes

    local_port, server_port = client.getsockname()[1], client.getpeername()[1]
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            ours = int(fields[1].rsplit(":", 1)[1], 16) == server_port
            if ours and int(fields[2].rsplit(":", 1)[1], 16) == local_port and fields[3] == "01":
                inode = f"socket:[{fields[9]}]"
    assert inode, "the server's end of the connection is not in /proc/net/tcp"
    number = next(int(fd.name) for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd) == inode)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copied = libc.syscall(438, pidfd, number, 0)  # SYS_pidfd_getfd on x86-64 and arm64
        if copied < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd failed")
    finally:
        os.close(pidfd)
    with socket.socket(fileno=copied) as server_end:
        return server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


__all__ = [
    "BODY",
    "FEATURES",
    "Load",
    "deploy_project",
    "listening_pids",
    "mlops",
    "mlops_json",
    "np",
    "server_pids",
    "server_side_nodelay",
]
