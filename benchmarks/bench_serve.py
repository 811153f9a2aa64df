"""How fast is `mlops serve`? Bounded load on 127.0.0.1, figures and ratios from one run.

Models: a 20-feature LogisticRegression and a 100-tree, depth-10 RandomForest (skl2onnx,
zipmap off). Single-row requests from `wrk` (Debian's package; a Lua script POSTs the body)
for a fixed time at 1, 16 and 64 connections, against:

- `mlops serve` (one worker), on the v2 infer endpoint and on /invocations;
- `mlops serve --batch-max-size 64` at 64 connections (micro-batching), on the forest and on a
  500-tree, depth-14 forest whose one-row call costs more than the request around it;
- the floor: an in-process `session.run` loop on the same single rows;
- a minimal raw-ASGI + onnxruntime server (`minimal_server.py`) under the same uvicorn settings,
  alternating with `mlops serve` round by round: medians and the ratio ours / minimal;
- `mlflow models serve` on the same scikit-learn forest, when `--mlflow-python` names a
  Python that has mlflow and scikit-learn installed (a separate venv); skipped otherwise;
- the image: `mlops package` of the LogisticRegression, and how much it adds to its base
  (with `--image`, when a Docker engine and the base image are there).

The machine is shared: read the ratios, not the absolute figures.

    python benchmarks/bench_serve.py [--quick] [--duration 15] [--image] [--rounds 5] [--only-minimal]
                                     [--breakdown]
                                     [--mlflow-python /opt/mlflow/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

N_FEATURES = 20
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def training_data(rows: int = 5000, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]) > 0).astype(np.int64)
    return x, y


def build_models(folder: Path) -> dict[str, Path]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    models = {
        "logreg": LogisticRegression(max_iter=500).fit(x, y),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(x, y),
    }
    return {name: save_onnx(model, x, folder / f"{name}.onnx") for name, model in models.items()}


def build_big_forest(folder: Path) -> dict[str, Path]:
    """A 500-tree, depth-14 forest (16 MB of ONNX): a model whose call, not the HTTP around it,
    is most of a one-row request; what micro-batching is for."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = training_data()
    model = RandomForestClassifier(n_estimators=500, max_depth=14, random_state=0, n_jobs=-1).fit(x, y)
    return {"bigforest": save_onnx(model, x, folder / "bigforest.onnx")}


def save_onnx(model, x: np.ndarray, path: Path) -> Path:
    from skl2onnx import to_onnx

    onx = to_onnx(model, x[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())
    return path


def mlops(project: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        **kwargs,
    )


def register(project: Path, paths: dict[str, Path]) -> None:
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.store import open_store

    store = open_store(project)
    try:
        for name, path in paths.items():
            signature = onnx_signature(path)
            signature["feature_names"] = FEATURES
            register_model(store, path, name=name, framework="onnx", signature=signature)
    finally:
        store.close()


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never became ready")


class Served:
    """A server process on a free port, stopped with SIGTERM."""

    def __init__(self, argv: list[str], cwd: Path, ready_path: str, env: dict | None = None) -> None:
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.log = open(cwd / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_ready(self.url + ready_path, self.process)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far, from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def v2_body(row: np.ndarray) -> str:
    return json.dumps(
        {"inputs": [{"name": "X", "shape": [1, N_FEATURES], "datatype": "FP32", "data": row.tolist()}]}
    )


def invocations_body(row: np.ndarray) -> str:
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": [row.tolist()]}})


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url: str, body: str, connections: int, duration: float, folder: Path) -> dict:
    """req/s, p50 and p99 (ms) from wrk with one thread; errors counted."""
    script = folder / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": rps,
        "p50": percentile("50"),
        "p99": percentile("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def floor(path: Path, rows: np.ndarray, duration: float) -> dict:
    """In-process session.run on single rows: what no server can beat."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    times = []
    deadline = time.perf_counter() + duration
    i = 0
    while time.perf_counter() < deadline:
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        session.run(None, {"X": row})
        times.append(time.perf_counter() - start)
        i += 1
    times.sort()
    return {
        "rps": len(times) / sum(times),
        "p50": statistics.median(times) * 1000,
        "p99": times[int(len(times) * 0.99)] * 1000,
        "errors": 0,
    }


MLFLOW_SAVE = """
import sys, numpy as np, mlflow.sklearn
from sklearn.ensemble import RandomForestClassifier
rng = np.random.default_rng(0)
x = rng.normal(size=(5000, 20)).astype(np.float32)
y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]) > 0).astype(np.int64)
model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(x, y)
mlflow.sklearn.save_model(model, sys.argv[1], serialization_format="cloudpickle")
"""


def mlflow_server(python: str, folder: Path) -> Served | None:
    model_dir = folder / "mlflow-forest"
    try:
        subprocess.run(
            [python, "-c", MLFLOW_SAVE, str(model_dir)], check=True, capture_output=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"(mlflow column skipped: cannot save the model with {python}: {exc})")
        return None
    mlflow = str(Path(python).with_name("mlflow"))
    argv = [
        mlflow,
        "models",
        "serve",
        "-m",
        str(model_dir),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        "{port}",
    ]
    env = {"PATH": f"{Path(python).parent}:{os.environ['PATH']}"}
    return Served(argv, folder, "/ping", env)


def row(label: str, figures: dict) -> str:
    errors = f"  errors={figures['errors']}" if figures["errors"] else ""
    latency = f"p50 {figures['p50']:7.2f} ms   p99 {figures['p99']:7.2f} ms"
    return f"  {label:<44} {figures['rps']:>9,.0f} req/s   {latency}{errors}"


def image_size(project: Path, base: str) -> None:
    try:
        done = mlops(project, "package", "logreg:1", "--base-image", base, "--json", timeout=1800)
    except subprocess.CalledProcessError as exc:
        print(f"(image skipped: {exc.stderr.strip().splitlines()[-1] if exc.stderr else exc})")
        return
    result = json.loads(done.stdout)
    size, base_size, added = (result[k] / 1e6 for k in ("size", "base_size", "added_size"))
    print(f"\nImage {result['image']}: {size:.1f} MB, base {base} {base_size:.1f} MB,", end="")
    print(f" added {added:.1f} MB (target: at most 200 MB)")


def print_ratios(f: dict[str, dict]) -> None:
    def rps(key: str) -> float:
        return f[key]["rps"]

    c16 = f["forest v2 c16"]
    print("\nForest, against the issue's targets:")
    print(f"  serve / floor, 1 conn:            {rps('forest v2 c1') / rps('forest floor'):.2f}")
    print(f"  p50 at 1 conn:                    {f['forest v2 c1']['p50']:.3f} ms (target < 0.5 ms)")
    print(f"  16 conn:                          {c16['rps']:,.0f} req/s, p99 {c16['p99']:.2f} ms", end="")
    print(" (target >= 4,000 req/s, p99 < 10 ms)")
    batching = rps("forest batch c64") / rps("forest v2 c64")
    print(f"  batching / none, 64 conn:         {batching:.2f} (target >= 1.3)")
    if "bigforest batch c64" in f:
        big = rps("bigforest batch c64") / rps("bigforest none c64")
        print(f"  batching / none, 64 conn, 500 trees: {big:.2f}")
    if "forest mlflow c16" in f:
        mlflow16, mlflow1 = rps("forest mlflow c16"), rps("forest mlflow c1")
        print(
            f"  serve / mlflow, 16 conn:          {rps('forest v2 c16') / mlflow16:.1f} (target >= 25)",
            end="",
        )
        print(f"; /invocations / mlflow: {rps('forest inv c16') / mlflow16:.1f}")
        print(f"  serve / mlflow, 1 conn:           {rps('forest v2 c1') / mlflow1:.1f}")


IN_PROCESS = """
import asyncio, json, os, statistics, sys, time
from pathlib import Path
import numpy as np
import minimal_server
from mlops_cli.models.signature import onnx_signature
from mlops_cli.runtime.session import file_digest
from mlops_cli.serving.app import ServingApp
from mlops_cli.serving.bundle import Bundle
from mlops_cli.serving.config import ServeConfig
from mlops_cli.serving.model import ServedModel

path, name, rounds = Path(os.environ["MINIMAL_MODEL"]), os.environ["MINIMAL_NAME"], int(sys.argv[1])
signature = onnx_signature(path)
signature["feature_names"] = [f"f{i}" for i in range(20)]
bundle = Bundle(path.parent, name, 1, file_digest(path), path.name, signature)
ours = ServingApp(ServeConfig(bundle=""), ServedModel(bundle))
ours.ready = True
row = np.random.default_rng(2).normal(size=20).astype(np.float32).tolist()
body = json.dumps({"inputs": [{"name": "X", "shape": [1, 20], "datatype": "FP32", "data": row}]}).encode()
headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
scope = {"type": "http", "method": "POST", "path": f"/v2/models/{name}/infer", "headers": headers}
statuses = []

async def receive():
    return {"type": "http.request", "body": body, "more_body": False}

async def send(message):
    if message["type"] == "http.response.start":
        statuses.append(message["status"])

async def loop(app, count):
    for _ in range(count):
        await app(scope, receive, send)

def cpu_us(app, count=3000):
    start = time.process_time()
    asyncio.run(loop(app, count))
    return (time.process_time() - start) / count * 1e6

cpu_us(ours, 500), cpu_us(minimal_server.app, 500)
assert set(statuses) == {200}, statuses[:3]
figures = {"ours": [], "minimal": []}
for _ in range(rounds):
    figures["ours"].append(cpu_us(ours))
    figures["minimal"].append(cpu_us(minimal_server.app))
print(json.dumps({k: statistics.median(v) for k, v in figures.items()}))
"""


def in_process_versus_minimal(paths: dict[str, Path], rounds: int) -> None:
    """The two ASGI apps called in one process, alternating: CPU microseconds per single-row
    request without HTTP, the figure a loaded machine disturbs least."""
    here = Path(__file__).resolve().parent
    print(f"\nIn process, CPU us per request through the ASGI app ({rounds} alternating rounds, medians):")
    print(f"  {'model':<8} {'mlops serve':>12} {'minimal':>9} {'minimal/ours':>13}")
    for name in ("logreg", "forest"):
        env = {
            **os.environ,
            "MINIMAL_MODEL": str(paths[name]),
            "MINIMAL_NAME": name,
            "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)]),
        }
        done = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(rounds)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cost = json.loads(done.stdout)
        print(
            f"  {name:<8} {cost['ours']:>9.1f} us {cost['minimal']:>6.1f} us"
            f" {cost['minimal'] / cost['ours']:>13.3f}"
        )


def versus_minimal(
    folder: Path, paths: dict[str, Path], sample: np.ndarray, duration: float, rounds: int
) -> None:
    """`mlops serve` against the minimal raw-ASGI + onnxruntime server (minimal_server.py), same
    model, same uvicorn settings, single-row v2 requests: wrk runs alternate between the two,
    round after round, so the machine's load hits both alike; medians and ours/minimal."""
    here = Path(__file__).resolve().parent
    print(f"\nmlops serve vs a minimal raw-ASGI + onnxruntime server ({rounds} alternating rounds, medians):")
    print(
        f"  {'model':<8} {'conn':>4} {'mlops serve':>14} {'minimal':>14} {'ratio':>6}   p50 ours / minimal"
        "   server CPU per request ours / minimal (minimal/ours)"
    )
    for name in ("logreg", "forest"):
        ours = Served(
            [sys.executable, "-m", "mlops_cli", "serve", name, "--port", "{port}"], folder, "/v2/health/ready"
        )
        minimal = Served(
            [
                sys.executable, "-m", "uvicorn", "minimal_server:app", "--app-dir", str(here),
                "--port", "{port}", "--loop", "auto", "--http", "auto", "--no-access-log",
                "--log-level", "warning", "--no-server-header", "--no-date-header",
            ],
            folder,
            "/v2/health/ready",
            env={"MINIMAL_MODEL": str(paths[name]), "MINIMAL_NAME": name},
        )  # fmt: skip
        try:
            for connections in (1, 16):
                figures: dict[str, list[dict]] = {"ours": [], "minimal": []}
                for _ in range(rounds):
                    for label, server in (("ours", ours), ("minimal", minimal)):
                        url = f"{server.url}/v2/models/{name}/infer"
                        before = server.cpu_seconds()
                        run = wrk(url, v2_body(sample), connections, duration, folder)
                        run["cpu_us"] = (server.cpu_seconds() - before) / max(run["requests"], 1) * 1e6
                        figures[label].append(run)
                med = {
                    label: {k: statistics.median(f[k] for f in runs) for k in ("rps", "p50", "cpu_us")}
                    for label, runs in figures.items()
                }
                errors = sum(f["errors"] for runs in figures.values() for f in runs)
                ours_rps, minimal_rps = med["ours"]["rps"], med["minimal"]["rps"]
                cpu_ratio = med["minimal"]["cpu_us"] / med["ours"]["cpu_us"]
                print(
                    f"  {name:<8} {connections:>4} {ours_rps:>10,.0f} r/s {minimal_rps:>10,.0f} r/s"
                    f" {ours_rps / minimal_rps:>6.3f}   {med['ours']['p50']:.3f} / "
                    f"{med['minimal']['p50']:.3f} ms   {med['ours']['cpu_us']:.0f} / "
                    f"{med['minimal']['cpu_us']:.0f} us ({cpu_ratio:.3f})"
                    + (f"  errors={errors}" if errors else "")
                )
        finally:
            ours.stop()
            minimal.stop()
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end)")


BREAKDOWN_PARTS = (
    ("static", "a fixed answer: the HTTP layer alone"),
    ("run", "+ the model on a fixed array"),
    ("decode", "+ the body's JSON read into the array"),
    ("", "+ the answer's JSON: the minimal server"),
)


def breakdown(folder: Path, paths: dict[str, Path], sample: np.ndarray, duration: float, rounds: int) -> None:
    """Server CPU per single-row request, part by part: the minimal server cut down to its HTTP
    layer, then with the model call, the body's JSON and the answer's JSON added one at a time,
    then `mlops serve`; every one on mlops's HTTP protocol (one write per answer), so the parts
    differ only in the app. wrk -c16 runs alternate, round after round: medians."""
    here = Path(__file__).resolve().parent
    name = "logreg"
    protocol = "mlops_cli.serving.protocol:OneWriteProtocol"
    servers = {}
    try:
        for part, _ in BREAKDOWN_PARTS:
            servers[part] = Served(
                [
                    sys.executable, "-m", "uvicorn", "minimal_server:app", "--app-dir", str(here),
                    "--port", "{port}", "--loop", "auto", "--http", protocol, "--no-access-log",
                    "--log-level", "warning", "--no-server-header", "--no-date-header",
                ],
                folder,
                "/v2/health/ready" if not part else "/",
                env={"MINIMAL_MODEL": str(paths[name]), "MINIMAL_NAME": name, "MINIMAL_PART": part,
                     "PYTHONPATH": str(here.parent)},
            )  # fmt: skip
        servers["mlops"] = Served(
            [sys.executable, "-m", "mlops_cli", "serve", name, "--port", "{port}"], folder, "/v2/health/ready"
        )
        cpu: dict[str, list[float]] = {key: [] for key in servers}
        for _ in range(rounds):
            for key, server in servers.items():
                before = server.cpu_seconds()
                run = wrk(f"{server.url}/v2/models/{name}/infer", v2_body(sample), 16, duration, folder)
                cpu[key].append((server.cpu_seconds() - before) / max(run["requests"], 1) * 1e6)
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nServer CPU per request, part by part ({name}, 16 connections,", end="")
    print(f" {rounds} alternating rounds, medians):")
    previous = 0.0
    for part, label in (*BREAKDOWN_PARTS, ("mlops", "mlops serve (every validation rule, metrics, ids)")):
        value = statistics.median(cpu[part])
        print(f"  {label:<52} {value:7.1f} us  (+{value - previous:5.1f})")
        previous = value
    minimal, ours = statistics.median(cpu[""]), statistics.median(cpu["mlops"])
    print(f"  minimal / mlops serve: {minimal / ours:.3f}", end="")
    print(" (the throughput ratio when the server is the bottleneck)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s per run: a smoke test, not a measurement")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load run (default 15)")
    parser.add_argument(
        "--mlflow-python", help="a Python with mlflow and scikit-learn, for the MLflow column"
    )
    parser.add_argument(
        "--image", action="store_true", help="also package the LogisticRegression and size it"
    )
    parser.add_argument("--base-image", default="mlops-test-base:bookworm")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds against the minimal server")
    parser.add_argument(
        "--only-minimal", action="store_true", help="only the comparison with the minimal server"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="only the part-by-part server CPU per request"
    )
    args = parser.parse_args()
    duration = 3.0 if args.quick else args.duration
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")

    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        mlops(folder, "init")
        paths = build_models(folder)
        register(folder, paths)
        rows = training_data(1000, seed=7)[0]
        sample = rows[0]
        print(f"bench_serve: {duration:g} s per run, wrk -t1, single-row requests, {os.cpu_count()} cores\n")
        if args.breakdown:
            breakdown(folder, paths, sample, duration, args.rounds)
            return
        if args.only_minimal:
            in_process_versus_minimal(paths, args.rounds)
            versus_minimal(folder, paths, sample, duration, args.rounds)
            return
        results: dict[str, dict] = {}
        serve = [sys.executable, "-m", "mlops_cli", "serve"]
        for name in ("logreg", "forest"):
            print(f"{name}:")
            results[f"{name} floor"] = floor(paths[name], rows, min(duration, 5.0))
            print(row("in-process session.run (floor)", results[f"{name} floor"]))
            server = Served([*serve, name, "--port", "{port}"], folder, "/v2/health/ready")
            try:
                infer = f"{server.url}/v2/models/{name}/infer"
                for connections in (1, 16) + ((64,) if name == "forest" else ()):
                    key = f"{name} v2 c{connections}"
                    results[key] = wrk(infer, v2_body(sample), connections, duration, folder)
                    print(row(f"mlops serve, v2 infer, {connections} conn", results[key]))
                for connections in (1, 16):
                    key = f"{name} inv c{connections}"
                    results[key] = wrk(
                        server.url + "/invocations", invocations_body(sample), connections, duration, folder
                    )
                    print(row(f"mlops serve, /invocations, {connections} conn", results[key]))
            finally:
                server.stop()
        batched = Served(
            [*serve, "forest", "--port", "{port}", "--batch-max-size", "64", "--batch-max-latency-ms", "2"],
            folder,
            "/v2/health/ready",
        )
        try:
            results["forest batch c64"] = wrk(
                f"{batched.url}/v2/models/forest/infer", v2_body(sample), 64, duration, folder
            )
            print(row("mlops serve --batch-max-size 64, 64 conn", results["forest batch c64"]))
        finally:
            batched.stop()
        register(folder, build_big_forest(folder))
        print("bigforest (500 trees, depth 14):")
        for label, extra in (
            ("none", ()),
            ("batch", ("--batch-max-size", "64", "--batch-max-latency-ms", "2")),
        ):
            server = Served([*serve, "bigforest", "--port", "{port}", *extra], folder, "/v2/health/ready")
            try:
                key = f"bigforest {label} c64"
                results[key] = wrk(
                    f"{server.url}/v2/models/bigforest/infer", v2_body(sample), 64, duration, folder
                )
                shown = "mlops serve --batch-max-size 64" if label == "batch" else "mlops serve, v2 infer"
                print(row(f"{shown}, 64 conn", results[key]))
            finally:
                server.stop()
        if args.mlflow_python:
            server = mlflow_server(args.mlflow_python, folder)
            if server is not None:
                try:
                    for connections in (1, 16):
                        key = f"forest mlflow c{connections}"
                        body = invocations_body(sample)
                        results[key] = wrk(server.url + "/invocations", body, connections, duration, folder)
                        print(row(f"mlflow models serve, {connections} conn", results[key]))
                finally:
                    server.stop()
        else:
            print("  (mlflow models serve: skipped; pass --mlflow-python)")

        print_ratios(results)
        in_process_versus_minimal(paths, args.rounds)
        versus_minimal(folder, paths, sample, duration, args.rounds)
        if args.image:
            image_size(folder, args.base_image)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
