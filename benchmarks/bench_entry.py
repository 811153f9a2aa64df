"""Entry scripts: what custom code costs, against plain serving and Azure's own server.

Figures, all from one run on 127.0.0.1, 16 keep-alive connections sending one-row JSON
requests back to back (wrk, as bench_serve.py), medians of --repeats rounds with the
servers taken in turn each round:

1. A do-nothing preprocess()/postprocess() version (POST /score) against the same ONNX
   LogisticRegression (20 features) served plainly (POST /invocations, and v2 infer).
2. The same score.py under `mlops serve` and under Azure's `azureml-inference-server-http`
   (`azmlinfsrv`, one worker each, in .venv-peers/azureml, built here when missing): a trivial
   run() (the servers' own overhead) and a scikit-learn RandomForest (100 trees, depth 10) run().
3. `mlops serve` of a version whose environment is cached: seconds until /v2/health/ready.
4. Building a scikit-learn environment from the host's wheel cache, serving layer already built.

The machine is shared and loaded: read the ratios, not the absolute figures.

    python benchmarks/bench_entry.py [--quick] [--duration 8] [--repeats 3] [--azure-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_serve import Served, free_port, wrk  # the same server runner and wrk as bench_serve.py

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".venv-peers" / "azureml"
N_FEATURES = 20
ROW = [round(0.1 * i, 2) for i in range(N_FEATURES)]

NOOP_HOOKS = """def preprocess(request):
    return request


def postprocess(outputs, request):
    return outputs
"""
TRIVIAL = "import json\n\n\ndef init():\n    pass\n\n\ndef run(raw_data):\n    return json.loads(raw_data)\n"
FOREST = """import json, os
import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "forest.joblib"))


def run(raw_data):
    return model.predict(np.asarray(json.loads(raw_data)["data"], dtype=np.float32)).tolist()
"""


def mlops(project: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", *map(str, args)], cwd=project, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlops {' '.join(map(str, args))}: {done.stderr}")
    return done.stdout


def timed_server(argv: list[str], cwd: Path, ready_path: str, env: dict | None = None) -> Served:
    """bench_serve's server process, with how long it took to answer ready (0.2 s polling)."""
    started = time.perf_counter()
    server = Served(argv, cwd, ready_path, env)
    server.ready_seconds = time.perf_counter() - started
    return server


def load(port: int, path: str, body: dict, duration: float, folder: Path) -> tuple[float, float]:
    """(requests/s, p99 ms) from wrk at 16 connections (wrk reconnects when a server closes each
    connection, as Azure's gunicorn sync worker does); any error aborts the benchmark."""
    url = f"http://127.0.0.1:{port}{path}"
    check = httpx.post(url, json=body, timeout=30)
    if check.status_code != 200:
        raise RuntimeError(f"{path} on {port} answered {check.status_code}: {check.text[:300]}")
    figures = wrk(url, json.dumps(body), 16, duration, folder)
    if figures["errors"]:
        raise RuntimeError(f"{figures['errors']} failed requests on {url}")
    return figures["rps"], figures["p99"]


def build_models(folder: Path) -> None:
    import joblib
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, N_FEATURES)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]) > 0).astype(np.int64)
    onx = to_onnx(LogisticRegression(max_iter=500).fit(x, y), x[:1], options={"zipmap": False})
    (folder / "logreg.onnx").write_bytes(onx.SerializeToString())
    forest = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=1).fit(x, y)
    (folder / "forest").mkdir()
    joblib.dump(forest, folder / "forest" / "forest.joblib")


def ensure_peer(python: Path | None) -> Path:
    if python is not None:
        return python
    if not (PEER / "bin" / "azmlinfsrv").exists():
        print(f"building {PEER} (azureml-inference-server-http, scikit-learn, joblib) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEER)], check=True)
        subprocess.run(
            [PEER / "bin" / "python", "-m", "pip", "install", "-q", "azureml-inference-server-http",
             "scikit-learn", "joblib"],
            check=True,
        )  # fmt: skip
    return PEER / "bin" / "python"


def azure_server(peer_python: Path, project: Path, script: Path, model_dir: Path) -> Served:
    return timed_server(
        [str(peer_python.parent / "azmlinfsrv"), "--entry_script", str(script), "--port", "{port}"],
        project,
        "/",
        env={"AZUREML_MODEL_DIR": str(model_dir), "WORKER_COUNT": "1"},
    )


def throughput(project: Path, peer: Path, args: argparse.Namespace) -> None:
    """Figures 1 and 2: every server started, then loaded in turn, --repeats rounds."""
    serve = [sys.executable, "-m", "mlops_cli", "serve", "--port", "{port}", "--env-manager", "local"]
    servers = {
        "plain": timed_server([*serve, "plain"], project, "/v2/health/ready"),
        "noop": timed_server([*serve, "noop"], project, "/v2/health/ready"),
        "trivial": timed_server([*serve, "trivial"], project, "/v2/health/ready"),
        "forest": timed_server([*serve, "forest"], project, "/v2/health/ready"),
        "az-trivial": azure_server(peer, project, project / "trivial.py", project / "forest"),
        "az-forest": azure_server(peer, project, project / "forest.py", project / "forest"),
    }
    tensor = {"inputs": [{"name": "X", "shape": [1, N_FEATURES], "datatype": "FP32", "data": ROW}]}
    runs = {
        "plain /invocations": ("plain", "/invocations", {"inputs": {"X": [ROW]}}),
        "plain v2 infer": ("plain", "/v2/models/plain/infer", tensor),
        "noop hooks /score": ("noop", "/score", {"X": [ROW]}),
        "trivial run(): mlops": ("trivial", "/score", {"data": [ROW]}),
        "trivial run(): azure": ("az-trivial", "/score", {"data": [ROW]}),
        "forest run(): mlops": ("forest", "/score", {"data": [ROW]}),
        "forest run(): azure": ("az-forest", "/score", {"data": [ROW]}),
    }
    figures: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    try:
        for _ in range(args.repeats):
            for label, (server, path, body) in runs.items():
                figures[label].append(load(servers[server].port, path, body, args.duration, project))
    finally:
        for server in servers.values():
            server.stop()

    rps = {k: statistics.median(r for r, _ in v) for k, v in figures.items()}
    p99 = {k: statistics.median(p for _, p in v) for k, v in figures.items()}
    print(
        f"16 connections, {args.duration:g} s x {args.repeats} rounds, medians;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    for label in runs:
        print(f"  {label:24s} {rps[label]:8.0f} req/s   p99 {p99[label]:7.2f} ms")
    print(
        f"noop hooks / plain /invocations: {rps['noop hooks /score'] / rps['plain /invocations']:.2f}x"
        " (target >= 0.8x)"
    )
    print(f"noop hooks / plain v2 infer:     {rps['noop hooks /score'] / rps['plain v2 infer']:.2f}x")
    for kind, target in (("trivial", 3.0), ("forest", 1.2)):
        ratio = rps[f"{kind} run(): mlops"] / rps[f"{kind} run(): azure"]
        p99_ratio = p99[f"{kind} run(): mlops"] / p99[f"{kind} run(): azure"]
        print(
            f"{kind} run(): mlops / azure: {ratio:.2f}x req/s (target >= {target}x),"
            f" p99 {p99_ratio:.2f}x (target <= 1)"
        )


def ready_cpu(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) from spawn to ready, polled
    every 20 ms; the CPU figure holds on a loaded machine where the wall does not."""
    import psutil

    port = free_port()
    process = subprocess.Popen(
        [a.replace("{port}", str(port)) for a in argv],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    started, watched = time.perf_counter(), psutil.Process(process.pid)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        wall = time.perf_counter() - started
        times = watched.cpu_times()
        return wall, times.user + times.system + times.children_user + times.children_system
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def start_figures(project: Path, repeats: int, first_seconds: float) -> None:
    """Figure 3: `serve` of the cached environment, its serving layer with the bytecode written
    when it was built against the same layer without it (how layers were before), taken in turn
    each round; and the plain ONNX version as the reference. PYTHONDONTWRITEBYTECODE=1, as in
    containers and on this machine, so no run leaves bytecode for the next."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    layer = next((project / ".mlops" / "envs").glob("serving-*"))
    serve = [sys.executable, "-m", "mlops_cli", "serve", "--port", "{port}"]
    figures: dict[str, list[tuple[float, float]]] = {"with": [], "without": [], "plain": []}
    for _ in range(repeats):
        figures["with"].append(ready_cpu([*serve, "cached"], project, env))
        caches = list(layer.rglob("__pycache__"))
        for cache in caches:
            cache.rename(cache.with_name("__pycache__.off"))
        try:
            figures["without"].append(ready_cpu([*serve, "cached"], project, env))
        finally:
            for cache in caches:
                cache.with_name("__pycache__.off").rename(cache)
        figures["plain"].append(ready_cpu([*serve, "--env-manager", "local", "plain"], project, env))

    def median(key: str, index: int) -> float:
        return statistics.median(f[index] for f in figures[key])

    for key, label in (
        ("with", "cached environment (layer bytecode written at build)"),
        ("without", "cached environment, layer without bytecode (before)"),
        ("plain", "plain ONNX version in this Python (reference)"),
    ):
        print(f"serve ready, {label}: wall {median(key, 0):.2f} s, CPU {median(key, 1):.2f} s")
    print(
        f"  ratio with/without: wall {median('with', 0) / median('without', 0):.2f}x,"
        f" CPU {median('with', 1) / median('without', 1):.2f}x (target < 2 s wall on an idle machine);"
        f" building the environment (with the serving layer) {first_seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--azure-python", type=Path, default=None)
    parser.add_argument("--environments-only", action="store_true", help="figures 3 and 4 only")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s, one round")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.repeats = 2.0, 1
    project = Path(tempfile.mkdtemp(prefix="bench-entry-"))
    mlops(project, "init")
    build_models(project)
    (project / "noop.py").write_text(NOOP_HOOKS)
    (project / "trivial.py").write_text(TRIVIAL)
    (project / "forest.py").write_text(FOREST)
    (project / "requirements.txt").write_text("joblib\n")
    mlops(project, "register", "logreg.onnx", "--name", "plain")
    mlops(project, "register", "logreg.onnx", "--name", "noop", "--entry", "noop.py")
    mlops(project, "register", "forest", "--name", "trivial", "--entry", "trivial.py")
    mlops(project, "register", "forest/forest.joblib", "--name", "forest", "--entry", "forest.py")
    mlops(
        project,
        "register",
        "forest",
        "--name",
        "cached",
        "--entry",
        "trivial.py",
        "--requirements",
        "requirements.txt",
    )

    if not args.environments_only:
        throughput(project, ensure_peer(args.azure_python), args)

    # A cached environment: built once here, then every serve only starts.
    from mlops_cli.environments.venvs import environment_for

    build_started = time.perf_counter()
    shown = json.loads(mlops(project, "models", "show", "cached", "--json"))
    environment_for(project / ".mlops" / "envs", shown["metadata"]["entry"])
    first_seconds = time.perf_counter() - build_started
    start_figures(project, args.repeats, first_seconds)

    # Building a scikit-learn environment from the wheel cache (serving layer already built above).
    from mlops_cli.domain import NoProgress
    from mlops_cli.environments.resolve import resolve
    from mlops_cli.environments.spec import parse_environment
    from mlops_cli.environments.venvs import ensure_environment

    (project / "sk.txt").write_text("scikit-learn\njoblib\n")
    pinned = resolve(parse_environment(project / "sk.txt"))
    envs = project / ".mlops" / "envs"
    builds = []
    for i in range(args.repeats):
        env = ensure_environment(
            envs, f"sha256:bench{i}{time.time_ns()}", list(pinned.pinned), NoProgress(), lambda _: None
        )
        builds.append(env.seconds)
    print(
        f"scikit-learn environment ({len(pinned.pinned)} packages) built from the wheel cache: median"
        f" {statistics.median(builds):.1f} s (target < 60 s) [{', '.join(f'{b:.1f}' for b in builds)}]"
    )
    print(f"(project left in {project})")


if __name__ == "__main__":
    main()
