"""How long does `mlops COMMAND --help` take, for every command, as a user's shell sees it?

Each run is a fresh process of the `mlops` console script (interpreter start, imports, help
text), timed wall-clock and in CPU seconds (user + sys of the child, from getrusage). Commands
run interleaved, round after round, so a load spike hits all of them alike; the figures are
medians over the rounds. The floor to meet is 0.15 s of wall time for every command on a quiet
machine; on a loaded one the CPU seconds move less than the wall time, and the ratio to
`python -c pass` (the interpreter's own start, measured in the same rounds) says how much of
it is ours.

Usage: python benchmarks/bench_help.py [--rounds N] [--mlops PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR_S = 0.15


def commands() -> list[list[str]]:
    """Every command path of the app, root first (the same walk as tests/cli/test_app.py)."""
    import typer

    from mlops_cli.cli.app import app

    found: list[list[str]] = [[]]

    def walk(group, prefix):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, [*prefix, name])
            else:
                found.append([*prefix, name])

    walk(typer.main.get_command(app), [])
    return found


def run_once(argv: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    default = shutil.which("mlops") or str(Path(sys.executable).parent / "mlops")
    parser.add_argument("--mlops", default=default)
    args = parser.parse_args()

    cases = {"python -c pass": [sys.executable, "-c", "pass"]}
    for path in commands():
        cases[" ".join(["mlops", *path, "--help"])] = [args.mlops, *path, "--help"]
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():  # warm-up: page cache, .pyc files
        run_once(argv)
    for _ in range(args.rounds):
        for name, argv in cases.items():
            wall, cpu = run_once(argv)
            walls[name].append(wall)
            cpus[name].append(cpu)

    load = os.getloadavg()[0]
    print(f"{args.rounds} rounds, interleaved; load average at the end {load:.2f} on {os.cpu_count()} cores")
    python_cpu = statistics.median(cpus["python -c pass"])
    print(f"{'command':<28} {'wall s':>8} {'cpu s':>8} {'cpu - python':>13}  floor {FLOOR_S} s")
    for name in cases:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        verdict = "" if name.startswith("python") else ("ok" if wall <= FLOOR_S else "OVER")
        print(f"{name:<28} {wall:8.3f} {cpu:8.3f} {cpu - python_cpu:13.3f}  {verdict}")


if __name__ == "__main__":
    main()
