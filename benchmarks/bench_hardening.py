"""What did the hardening cost? The code before it and after it, side by side in one run.

"Before" is the package as exported from a git revision (`--before REV`, default the commit
the hardening branch started from); "after" is this checkout. Both run against the same store,
models and data, alternating run by run (before, after, before, after, ...) so that drift in the
machine's load hits both alike; the medians and the after/before ratio are printed.

- score-batch on CSV (read with `preadv` into a buffer instead of memory maps, and the value
  rule) and on Parquet (the value rule only), LogisticRegression and RandomForest(100 x 10),
  20 float features, `--workers 1`, every run a fresh process;
- serve, in process: the ASGI app called in a loop with one single-row request (no HTTP, no
  other process), CPU time per request: the cost of the app's own code, which a loaded
  machine disturbs least;
- serve: single-row requests from `wrk -t1` on v2 infer and /invocations (the value rule on
  JSON values), one server process at a time; req/s and the server's CPU per request.

    python benchmarks/bench_hardening.py [--rows N] [--repeats R] [--duration S] [--quick]
                                         [--before REV] [--only score-batch|in-process|serve]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

# This checkout's package, whatever else is installed (the store must be written by "after").
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from bench_serve import (  # noqa: E402 - the sibling script's helpers
    FEATURES,
    Served,
    build_models,
    free_port,
    invocations_body,
    register,
    v2_body,
    wrk,
)

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "5a73da8"  # the last commit before the hardening branch


def export(rev: str, folder: Path) -> Path:
    """The package as it was at `rev`, as a folder to put first on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "mlops_cli"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def env_for(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "MLOPS_ACTOR": "bench@example.com"}


def write_data(folder: Path, rows: int) -> dict[str, Path]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    table = pa.table({name: rng.normal(size=rows) for name in FEATURES})
    paths = {"csv": folder / "in.csv", "parquet": folder / "in.parquet"}
    pacsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"])
    return paths


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the command and its children).

    CPU time is what the code costs; wall time also counts waiting for a core, which on a
    loaded machine is most of it.
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _pair(figures: dict[str, float], form: str) -> list[str]:
    """before, after and after / before, as table cells."""
    return [
        form.format(figures["before"]),
        form.format(figures["after"]),
        f"{figures['after'] / figures['before']:.3f}",
    ]


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def score_batch(project: Path, codes: dict[str, Path], data: dict[str, Path], repeats: int) -> None:
    print("score-batch, --workers 1: wall and CPU (user + system) seconds, medians; after / before")
    print(_row("model", "input", "wall before", "wall after", "ratio", "CPU before", "CPU after", "ratio"))
    print(_row("---", "---", *["---:"] * 6))
    for model in ("logreg", "forest"):
        for fmt, path in data.items():
            times: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
            for _ in range(repeats):
                for label, code in codes.items():
                    out = project / f"out-{label}.parquet"
                    argv = [sys.executable, "-m", "mlops_cli", "score-batch", model, "-i", str(path)]
                    times[label].append(timed([*argv, "-o", str(out)], project, env_for(code)))
            wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
            cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
            print(_row(model, fmt, *_pair(wall, "{:.2f} s"), *_pair(cpu, "{:.2f} s")))
    print()


def serve(project: Path, codes: dict[str, Path], duration: float, repeats: int) -> None:
    """req/s from wrk, and the server process's CPU time per request (psutil), which a loaded
    machine disturbs far less than the rate."""
    sample = np.random.default_rng(2).normal(size=len(FEATURES)).astype(np.float32)
    cases = [
        ("logreg", "v2 infer", 1),
        ("logreg", "v2 infer", 16),
        ("logreg", "/invocations", 16),
        ("forest", "v2 infer", 16),
    ]
    print(
        f"serve, single-row requests, wrk -t1 for {duration:g} s per run: req/s and the server's CPU"
        " time per request (user + system), medians; after / before"
    )
    print(_row("model", "endpoint", "conns", "req/s before", "req/s after", "ratio", "CPU/req before",
               "CPU/req after", "ratio"))  # fmt: skip
    print(_row("---", "---", *["---:"] * 7))
    for model, endpoint, connections in cases:
        rates: dict[str, list[float]] = {"before": [], "after": []}
        costs: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(repeats):
            for label, code in codes.items():
                argv = [sys.executable, "-m", "mlops_cli", "serve", model, "--port", "{port}"]
                server = Served(argv, project, "/v2/health/ready", env=env_for(code))
                try:
                    if endpoint == "v2 infer":
                        url, body = f"{server.url}/v2/models/{model}/infer", v2_body(sample)
                    else:
                        url, body = f"{server.url}/invocations", invocations_body(sample)
                    process = psutil.Process(server.process.pid)
                    cpu_before = sum(process.cpu_times()[:2])
                    result = wrk(url, body, connections, duration, project)
                    cpu_used = sum(process.cpu_times()[:2]) - cpu_before
                    if result["errors"]:
                        raise RuntimeError(f"{label}: {result['errors']} failed requests")
                    rates[label].append(result["rps"])
                    costs[label].append(cpu_used / (result["rps"] * duration) * 1e6)
                finally:
                    server.stop()
        rps = {k: statistics.median(v) for k, v in rates.items()}
        cost = {k: statistics.median(v) for k, v in costs.items()}
        print(_row(model, endpoint, connections, *_pair(rps, "{:,.0f}"), *_pair(cost, "{:.0f} us")))
    print()


IN_PROCESS = """
import asyncio, sys, time
from mlops_cli.serving.app import ServingApp
from mlops_cli.serving.config import ServeConfig

app = ServingApp(ServeConfig(bundle=sys.argv[1]))
path, body, count = sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
statuses = []

async def receive():
    return {"type": "http.request", "body": body, "more_body": False}

async def send(message):
    if message["type"] == "http.response.start":
        statuses.append(message["status"])

async def main():
    for _ in range(1000):
        await app(scope, receive, send)
    assert set(statuses) == {200}, statuses[:3]
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(count):
            await app(scope, receive, send)
        best = min(best, (time.process_time() - start) / count)
    print(best * 1e6)

asyncio.run(main())
"""


def bundle_of(project: Path, model: str) -> str:
    """The serving bundle `mlops serve` writes for a model (its first --json line names it)."""
    import json

    argv = [sys.executable, "-m", "mlops_cli", "serve", model, "--port", str(free_port()), "--json"]
    server = subprocess.Popen(
        argv, cwd=project, env=env_for(ROOT), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        text = ""
        while not text.rstrip().endswith("}"):
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"mlops serve {model} printed no bundle")
            text += line
        return json.loads(text)["bundle"]
    finally:
        server.terminate()
        server.wait(30)


def in_process(project: Path, codes: dict[str, Path], repeats: int, count: int) -> None:
    """The app's own cost per request, without HTTP: the ASGI callable called in a loop, CPU
    time, best of 5 loops per process, the median over `repeats` processes per version."""
    sample = np.random.default_rng(2).normal(size=len(FEATURES)).astype(np.float32)
    print(f"serve, in process: CPU microseconds per request through the ASGI app ({count:,} per loop)")
    print(_row("model", "endpoint", "before", "after", "ratio"))
    print(_row("---", "---", "---:", "---:", "---:"))
    for model in ("logreg", "forest"):
        bundle = bundle_of(project, model)
        for endpoint, path, body in (
            ("v2 infer", f"/v2/models/{model}/infer", v2_body(sample)),
            ("/invocations", "/invocations", invocations_body(sample)),
        ):
            costs: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(repeats):
                for label, code in codes.items():
                    argv = [sys.executable, "-c", IN_PROCESS, bundle, path, body, str(count)]
                    done = subprocess.run(argv, env=env_for(code), capture_output=True, text=True, check=True)
                    costs[label].append(float(done.stdout))
            print(
                _row(
                    model, endpoint, *_pair({k: statistics.median(v) for k, v in costs.items()}, "{:.1f} us")
                )
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5, help="runs per case and version; medians shown")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 1 run, 1 s: a smoke test")
    parser.add_argument("--only", choices=("score-batch", "serve", "in-process"), help="run one part")
    parser.add_argument("--before", default=BEFORE, help=f"git revision of 'before' (default {BEFORE})")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.duration = 100_000, 1, 1.0
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as tmp:
        folder = Path(tmp)
        (folder / "before").mkdir()
        codes = {"before": export(args.before, folder / "before"), "after": ROOT}
        project = folder / "project"
        project.mkdir()
        init = [sys.executable, "-m", "mlops_cli", "init"]
        subprocess.run(init, cwd=project, env=env_for(ROOT), check=True, capture_output=True)
        register(project, build_models(folder))
        data = write_data(folder, args.rows)
        print(
            f"bench_hardening: before = {args.before}, after = this checkout; {args.rows:,} rows x"
            f" {len(FEATURES)} features (CSV {data['csv'].stat().st_size / 1e6:.0f} MB);"
            f" {args.repeats} alternating runs per case; {os.cpu_count()} cores; load average"
            f" {os.getloadavg()[0]:.2f} at start\n"
        )
        if args.only in (None, "score-batch"):
            score_batch(project, codes, data, args.repeats)
        if args.only in (None, "in-process"):
            in_process(project, codes, args.repeats, 2_000 if args.quick else 20_000)
        if args.only in (None, "serve"):
            serve(project, codes, args.duration, args.repeats)
        print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
