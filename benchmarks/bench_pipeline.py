"""A no-op `mlops pipeline run` of 50 steps whose deps total 1 GiB (target: under 0.3 s).

Nothing changed, so nothing may be re-read: the state cache (inode, size, mtime_ns) answers for
every dep and out. Printed side by side in one run, medians of several runs:
  - `mlops pipeline run` with nothing to do (it still records the run: a job and audit events)
  - `mlops pipeline status` (the same decisions, no store writes)
  - `mlops --version` (the interpreter and CLI start-up, the floor of any command)
  - the first run, which hashes the 1 GiB and runs the 50 steps, for scale

Usage: python benchmarks/bench_pipeline.py [--steps 50] [--total-mb 1024] [--runs 7]
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

ROOT = Path(__file__).resolve().parents[1]
MLOPS = [sys.executable, "-m", "mlops_cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, also in subprocesses


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_project(work: Path, steps: int, total_mb: int) -> None:
    """`steps` steps; each reads its own data file (total_mb in all) and half of them also
    read the previous step's out, so the graph has chains as well as independent steps."""
    subprocess.run([*MLOPS, "init"], cwd=work, check=True, env=ENV, stdout=subprocess.DEVNULL)
    (work / "data").mkdir()
    chunk = os.urandom(1024 * 1024)
    per_step = max(1, total_mb // steps)
    lines = ["steps:"]
    for i in range(steps):
        with open(work / "data" / f"part{i}.bin", "wb") as handle:
            for _ in range(per_step):
                handle.write(chunk)
        deps = [f"data/part{i}.bin"] + ([f"out/step{i - 1}.txt"] if i % 2 and i else [])
        lines += [
            f"  step{i}:",
            f"    cmd: mkdir -p out && echo {i} > out/step{i}.txt",
            f"    deps: [{', '.join(deps)}]",
            f"    outs: [out/step{i}.txt]",
        ]
    (work / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    past = time.time() - 10  # out of the state cache's racy window, as files written earlier are
    for path in (work / "data").iterdir():
        os.utime(path, (past, past))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--total-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        make_project(work, args.steps, args.total_mb)
        first = timed([*MLOPS, "pipeline", "run", "--jobs", "2"], work)
        time.sleep(2.1)  # let the outs leave the racy window, then one run caches them
        timed([*MLOPS, "pipeline", "run"], work)
        rows = {"pipeline run (no-op)": [], "pipeline status": [], "mlops --version": []}
        for _ in range(args.runs):  # interleaved, so load changes hit every figure alike
            rows["pipeline run (no-op)"].append(timed([*MLOPS, "pipeline", "run"], work))
            rows["pipeline status"].append(timed([*MLOPS, "pipeline", "status"], work))
            rows["mlops --version"].append(timed([*MLOPS, "--version"], work))
        floor = statistics.median(rows["mlops --version"])
        print(f"{args.steps} steps, deps {args.total_mb} MiB in all; medians of {args.runs} runs")
        print(f"  first run (hash 1 GiB, run every step): {first:.2f} s")
        for name, values in rows.items():
            median = statistics.median(values)
            print(f"  {name:<24} {median:.3f} s  ({median / floor:.2f}x start-up)")
        print("  target: pipeline run (no-op) < 0.3 s")


if __name__ == "__main__":
    main()
