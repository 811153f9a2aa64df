"""How fast and how repeatable is `mlops profile`? Figures from one run, side by side.

- The load generator's ceiling: requests/s it drives against the trivial reference server
  (`mlops_cli.profile.echo_server`) at 1, 4 and 16 connections, next to `wrk -t1` (Debian's
  package, when installed) against the same server: the ratio says how much of a real load
  tool's ceiling the built-in client reaches.
- The default sweep (no options but the model) on a 100-tree, depth-10 RandomForest with 20
  features, run twice as whole `mlops profile` processes: wall time of each (target < 60 s),
  the per-point throughput agreement between the two runs (target: within 15 % at every point),
  and the recommended memory over the measured peak (target: within [1, 1.5]).

The machine is shared: read the ratios and the spread, not the absolute figures.

    python benchmarks/bench_profile.py [--quick] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlops_cli.profile.points import MIN_P99_SAMPLES

N_FEATURES = 20


def build_project(folder: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    from mlops_cli.audit.provenance import provenance
    from mlops_cli.models.registering import register_model
    from mlops_cli.models.signature import onnx_signature
    from mlops_cli.store import init_store

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, N_FEATURES)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]) > 0).astype(np.int64)
    model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(x, y)
    onx = to_onnx(model, x[:1], options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    path = folder / "forest.onnx"
    path.write_bytes(onx.SerializeToString())
    store, _ = init_store(folder, provenance())
    try:
        signature = onnx_signature(path)
        signature["feature_names"] = [f"f{i}" for i in range(N_FEATURES)]
        register_model(store, path, name="forest", framework="onnx", signature=signature)
    finally:
        store.close()


def wrk_rps(port: int, connections: int, seconds: float, folder: Path) -> float | None:
    if shutil.which("wrk") is None:
        return None
    script = folder / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = "{\\"inputs\\": []}"\n')
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/echo",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def ceiling(folder: Path, seconds: float, repeats: int) -> None:
    from mlops_cli.profile.loadgen import EchoServer, request_bytes, run_load

    server = EchoServer()
    print(f"\n## load generator ceiling against the trivial server (median of {repeats}, {seconds:g} s each)")
    print(f"{'connections':>12} {'mlops client':>14} {'wrk -t1':>10} {'ratio':>7}")
    try:
        payload = request_bytes("127.0.0.1", server.port, "/echo", b'{"inputs": []}')
        for connections in (1, 4, 16):
            ours, theirs = [], []
            for _ in range(repeats):
                done = run_load("127.0.0.1", server.port, payload, connections, seconds, record=False)
                ours.append(done.ok / done.elapsed)
                other = wrk_rps(server.port, connections, seconds, folder)
                if other is not None:
                    theirs.append(other)
            mine = statistics.median(ours)
            if theirs:
                yard = statistics.median(theirs)
                print(f"{connections:>12} {mine:>14,.0f} {yard:>10,.0f} {mine / yard:>7.2f}")
            else:
                print(f"{connections:>12} {mine:>14,.0f} {'(no wrk)':>10}")
    finally:
        server.close()


def sweep(folder: Path, extra: list[str]) -> tuple[float, dict]:
    env = {**os.environ, "MLOPS_ACTOR": "bench@example.com"}
    env.pop("MLOPS_STORE", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "profile", "forest", "--json", *extra],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"mlops profile failed: {done.stderr}")
    return wall, json.loads(done.stdout)


def agreement(runs: list[dict]) -> None:
    """Per point: throughput, rows per CPU-second and p99 of the first and last run, how far
    apart (|a - b| / mean), and for p99 whether the two 95 % intervals overlap (the method's own
    word on agreement: two p99s whose intervals overlap are not shown to differ)."""
    print("\n## agreement between runs, per point (|a - b| / mean; p99 with its 95 % interval)")
    print(
        f"{'mode':>10} {'batch':>6} {'thr':>4} {'conc':>5} {'rows/s a':>10} {'rows/s b':>10} {'diff':>7}"
        f" {'rows/cpu-s a':>13} {'rows/cpu-s b':>13} {'diff':>7}  p99 a / b (ms), diff, intervals, samples"
    )
    diffs, efficiency, tails, overlaps, thin = [], [], [], [], 0
    for points in zip(*(r["points"] for r in runs), strict=True):
        a, b = points[0], points[-1]
        values = [p["rows_per_s"] for p in points]
        diff = (max(values) - min(values)) / statistics.mean(values)
        per_cpu = [p["rows_per_cpu_s"] or 0.0 for p in points]
        cpu_diff = (max(per_cpu) - min(per_cpu)) / statistics.mean(per_cpu) if any(per_cpu) else 0.0
        diffs.append(diff)
        efficiency.append(cpu_diff)
        p99 = [p["p99_ms"] for p in points]
        tails.append((max(p99) - min(p99)) / statistics.mean(p99))
        overlap = _intervals_overlap(a.get("p99_ci_ms"), b.get("p99_ci_ms"))
        overlaps.append(overlap)
        samples = [p.get("latency_samples") or 0 for p in points]
        thin += min(samples) < MIN_P99_SAMPLES
        where = f"{a['mode']:>10} {a['batch_size']:>6} {a['threads']:>4} {a['concurrency']:>5}"
        print(
            f"{where} {values[0]:>10,.0f} {values[-1]:>10,.0f} {diff:>7.1%}"
            f" {per_cpu[0]:>13,.0f} {per_cpu[-1]:>13,.0f} {cpu_diff:>7.1%}"
            f"  {p99[0]:.2f} / {p99[-1]:.2f} {tails[-1]:>7.1%}"
            f" {_interval(a)} {_interval(b)} {'overlap' if overlap else 'APART':<7}"
            f" {'/'.join(str(n) for n in samples)}"
        )
    for name, found in (("throughput (rows/s)", diffs), ("rows per CPU-second", efficiency), ("p99", tails)):
        within = sum(d <= 0.15 for d in found)
        target = " (target: 32 of 36 on a quiet machine)" if name == "p99" else ""
        print(
            f"{name}: {within}/{len(found)} points within 15 %{target}; median difference"
            f" {statistics.median(found):.1%}, largest {max(found):.1%}"
        )
    print(
        f"p99 95 % intervals overlap on {sum(overlaps)}/{len(overlaps)} points;"
        f" {thin} point(s) had fewer than {MIN_P99_SAMPLES:,} latencies in a run (slow points keep"
        " their window: their interval is wide and their p99 moves most)"
    )


def _interval(point: dict) -> str:
    ci = point.get("p99_ci_ms")
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "[-]"


def _intervals_overlap(a: list[float] | None, b: list[float] | None) -> bool:
    return bool(a and b and a[0] <= b[1] and b[0] <= a[1])


def memory(runs: list[dict]) -> None:
    print("\n## recommendation per run")
    for i, run in enumerate(runs, 1):
        rec = run["recommendation"]
        peak = run["points"][rec["point"]]["peak_rss_bytes"]
        print(
            f"run {i}: cpu {rec['cpu']:g}, memory {rec['memory']} = {rec['memory_bytes'] / peak:.2f} x the"
            f" peak RSS ({peak / 2**20:.1f} MiB), {rec['workers']} worker(s), batch {rec['max_batch_size']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: a small sweep, short durations")
    parser.add_argument("--runs", type=int, default=2, help="default sweeps to run and compare")
    args = parser.parse_args()
    extra = ["--duration", "0.2", "--batch-sizes", "1,64", "--concurrency", "1,4"] if args.quick else []
    folder = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        build_project(folder)
        print(
            f"machine: {os.cpu_count()} cores, load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}"
        )
        ceiling(folder, 0.5 if args.quick else 2.0, 1 if args.quick else 3)
        runs, walls = [], []
        for _ in range(args.runs):
            wall, result = sweep(folder, extra)
            walls.append(wall)
            runs.append(result)
        options = " " + " ".join(extra) if extra else " (the default sweep)"
        print(f"\n## `mlops profile forest`{options}, {len(runs)} runs")
        for i, (wall, run) in enumerate(zip(walls, runs, strict=True), 1):
            print(
                f"run {i}: {wall:.1f} s wall (whole process), {run['duration_s']:.1f} s measuring,"
                f" {len(run['points'])} points"
            )
        print(f"median wall time {statistics.median(walls):.1f} s (target < 60 s)")
        if len(runs) > 1:
            agreement(runs)
        memory(runs)
        print(f"\nload average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
