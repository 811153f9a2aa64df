"""How long does `mlops COMMAND --help` take, for every command, as a user's shell sees it?

Each run is a fresh process of the `mlops` console script (interpreter start, imports, help
text), timed wall-clock and in CPU seconds (user + sys of the child, from getrusage). Commands
run interleaved, round after round, so a load spike hits all of them alike; the figures are
medians over the rounds. The floor to meet is 0.15 s of wall time for every command on a quiet
machine; on a loaded one the CPU seconds move less than the wall time, and the ratio to
`python -c pass` (the interpreter's own start, measured in the same rounds) says how much of
it is ours.

With `--before DIR` (an earlier commit's package, e.g. `git archive main mlops_cli | tar -x -C /tmp/before`)
every command also runs with DIR first on PYTHONPATH, in the same rounds, and the table shows
both and their ratio: a before/after comparison that the machine's load cannot skew.

Usage: python benchmarks/bench_help.py [--rounds N] [--mlops PATH] [--before DIR]
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


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    default = shutil.which("mlops") or str(Path(sys.executable).parent / "mlops")
    parser.add_argument("--mlops", default=default)

    parser.add_argument("--before", type=Path, help="an earlier checkout to compare with")
    args = parser.parse_args()

    here = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    then = {**os.environ, "PYTHONPATH": str(args.before.resolve())} if args.before else None
    cases: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None)
    }
    for path in commands():
        argv = [args.mlops, *path, "--help"]
        name = " ".join(["mlops", *path, "--help"])
        cases[name] = (argv, here)
        if then is not None:
            cases["before: " + name] = (argv, then)
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    for argv, env in cases.values():  # warm-up: page cache, .pyc files
        run_once(argv, env)
    for _ in range(args.rounds):
        for name, (argv, env) in cases.items():
            wall, cpu = run_once(argv, env)
            walls[name].append(wall)
            cpus[name].append(cpu)

    load = os.getloadavg()[0]
    print(f"{args.rounds} rounds, interleaved; load average at the end {load:.2f} on {os.cpu_count()} cores")
    python_cpu = statistics.median(cpus["python -c pass"])
    header = f"{'command':<30} {'wall s':>7} {'cpu s':>7} {'cpu-python':>10}"
    if then is not None:
        header += f" {'before wall':>11} {'before cpu':>10} {'cpu ratio':>9}"
    print(header + f"  floor {FLOOR_S} s wall")
    for name in cases:
        if name.startswith("before: "):
            continue
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        verdict = "" if name.startswith("python") else ("ok" if wall <= FLOOR_S else "OVER")
        line = f"{name:<30} {wall:7.3f} {cpu:7.3f} {cpu - python_cpu:10.3f}"
        if then is not None and not name.startswith("python"):
            old_wall = statistics.median(walls["before: " + name])
            old_cpu = statistics.median(cpus["before: " + name])
            line += f" {old_wall:11.3f} {old_cpu:10.3f} {cpu / old_cpu:9.2f}"
        print(f"{line}  {verdict}")


if __name__ == "__main__":
    main()
