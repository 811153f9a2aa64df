"""What a store command costs at start: `models list` on 10,000 versions (target: under 0.2 s).

Each run is a fresh `python -m mlops_cli` process, timed wall-clock and in CPU seconds (user +
sys of the child). Cases run interleaved, round after round, so a load spike hits all alike;
figures are medians. With `--before DIR` (an earlier commit's package, e.g. `git archive
COMMIT mlops_cli | tar -x -C DIR`) every command also runs from DIR in the same rounds and the
table shows the CPU ratio, which the machine's load skews far less than wall time.

Usage: python benchmarks/bench_startup.py [--versions 10000] [--rounds 9] [--before DIR]
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_help import run_once  # noqa: E402  (benchmarks are scripts, not a package)
from bench_register import fill_store  # noqa: E402

TARGET_S = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--before", type=Path, help="an earlier checkout's package folder to compare with")
    args = parser.parse_args()
    now = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    then = {**os.environ, "PYTHONPATH": str(args.before.resolve())} if args.before else None
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as folder:
        many, few = Path(folder) / "many", Path(folder) / "few"
        fill_store(many, args.versions)
        fill_store(few, 3)
        time.sleep(2.1)  # the database files leave the racy window of the open check's record
        mlops = [sys.executable, "-m", "mlops_cli"]
        commands = {
            f"models list --json ({args.versions:,} versions)": ([*mlops, "models", "list", "--json"], many),
            "models list (3 versions)": ([*mlops, "models", "list"], few),
            "mlops --version": ([*mlops, "--version"], few),
        }
        cases: dict[str, tuple[list[str], Path, dict | None]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], few, None)
        }
        for name, (argv, cwd) in commands.items():
            cases[name] = (argv, cwd, now)
            if then is not None:
                cases["before: " + name] = (argv, cwd, then)
        walls: dict[str, list[float]] = {name: [] for name in cases}
        cpus: dict[str, list[float]] = {name: [] for name in cases}
        for argv, cwd, env in cases.values():  # warm-up: page cache, .pyc files, the open check
            subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        for _ in range(args.rounds):
            for name, (argv, cwd, env) in cases.items():
                previous = os.getcwd()
                os.chdir(cwd)
                try:
                    wall, cpu = run_once(argv, env)
                finally:
                    os.chdir(previous)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(
        f"{args.rounds} rounds, interleaved, medians; load average at the end"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    header = f"{'command':<36} {'wall s':>7} {'cpu s':>7}"
    if then is not None:
        header += f" {'before wall':>11} {'before cpu':>10} {'cpu ratio':>9}"
    print(header)
    for name in cases:
        if name.startswith("before: "):
            continue
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        line = f"{name:<36} {wall:7.3f} {cpu:7.3f}"
        if then is not None and not name.startswith("python"):
            old_wall = statistics.median(walls["before: " + name])
            old_cpu = statistics.median(cpus["before: " + name])
            line += f" {old_wall:11.3f} {old_cpu:10.3f} {cpu / old_cpu:9.2f}"
        print(line)
    print(f"target: models list on {args.versions:,} versions < {TARGET_S} s (wall on a quiet machine)")


if __name__ == "__main__":
    main()
