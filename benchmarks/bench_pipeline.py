"""A no-op `mlops pipeline run` of 50 steps whose deps total 1 GiB (target: under 0.3 s).

Nothing changed, so nothing may be re-read: the state cache (inode, size, mtime_ns) answers for
every dep and out. Printed side by side in one run, medians of several runs:
  - `mlops pipeline run` with nothing to do (recorded: the store opened, a job and its two
    audit events, the environment snapshot, git's commit and dirty flag)
  - `mlops pipeline status` (the same decisions, no store writes)
  - `mlops --version` (the interpreter and CLI start-up, the floor of any command)
  - the first run, which hashes the 1 GiB and runs the 50 steps, for scale

With `--before DIR` (an earlier commit's package, `git archive COMMIT mlops_cli | tar -x -C DIR`)
each command also runs from DIR in the same rounds, and the table shows the CPU ratio.

With `--git` the project is a git repository with everything but `.mlops/` committed, the
1 GiB of deps included, so a run's provenance checks a tree of 1 GiB of tracked files for changes.

Usage: python benchmarks/bench_pipeline.py [--steps 50] [--total-mb 1024] [--runs 7] [--before DIR] [--git]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLOPS = [sys.executable, "-m", "mlops_cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, also in subprocesses


def timed(args: list[str], cwd: Path, cpu: list[float] | None = None, env: dict | None = None) -> float:
    """Wall seconds of one whole process; its CPU seconds (user + sys) appended to `cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        args, cwd=cwd, check=True, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


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
    parser.add_argument("--before", type=Path, help="an earlier checkout's package folder to compare with")
    parser.add_argument("--git", action="store_true", help="commit the project, deps included, to git")
    args = parser.parse_args()
    then = {**os.environ, "PYTHONPATH": str(args.before.resolve())} if args.before else None
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        make_project(work, args.steps, args.total_mb)
        first = timed([*MLOPS, "pipeline", "run", "--jobs", "2"], work)
        time.sleep(2.1)  # let the outs leave the racy window, then one run caches them
        timed([*MLOPS, "pipeline", "run"], work)
        if args.git:
            git = ["git", "-c", "user.email=b@example.com", "-c", "user.name=b", "-c", "core.compression=0"]
            subprocess.run([*git, "init", "-q"], cwd=work, check=True)
            # The store is not committed: every recorded run changes its database (a dirty tree).
            (work / ".git" / "info" / "exclude").write_text(".mlops/\n")
            for command in (["add", "-A"], ["commit", "-qm", "bench"]):
                subprocess.run([*git, *command], cwd=work, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "pipeline run (no-op)": [*MLOPS, "pipeline", "run"],
            "pipeline status": [*MLOPS, "pipeline", "status"],
            "models list": [*MLOPS, "models", "list"],
            "mlops --version": [*MLOPS, "--version"],
        }
        envs = {name: ENV for name in commands}
        if then is not None:
            for name in list(commands):
                commands["before: " + name] = commands[name]
                envs["before: " + name] = then
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so load changes hit every figure alike
            for name, argv in commands.items():
                walls[name].append(timed(argv, work, cpus[name], envs[name]))
        noop = subprocess.run(
            [*MLOPS, "pipeline", "run", "--json"], cwd=work, env=ENV, capture_output=True, text=True
        )
        hashed, job = json.loads(noop.stdout)["files_hashed"], json.loads(noop.stdout)["job"]
        events = subprocess.run(
            [*MLOPS, "audit", "log", "--action", "pipeline", "--limit", "1", "--json"],
            cwd=work,
            env=ENV,
            capture_output=True,
            text=True,
        )
        git_of_run = json.loads(events.stdout)[0]["git"] if job else None
        floor = statistics.median(walls["mlops --version"])
        where = "a git repository, deps committed" if args.git else "not in git"
        print(f"{args.steps} steps, deps {args.total_mb} MiB in all ({where}); medians of {args.runs} runs;")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"  first run (hash the deps, run every step): {first:.2f} s")
        print(f"  files read by a no-op run: {hashed}; recorded as job {job}; its git: {git_of_run}")
        extra = f" {'before wall':>11} {'before cpu':>10} {'cpu ratio':>9}" if then else ""
        print(f"  {'command':<24} {'wall':>8} {'cpu':>8}  wall / start-up{extra}")
        for name in commands:
            if name.startswith("before: "):
                continue
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            line = f"  {name:<24} {wall:7.3f}s {cpu:7.3f}s  {wall / floor:14.2f}x"
            if then is not None:
                old_wall = statistics.median(walls["before: " + name])
                old_cpu = statistics.median(cpus["before: " + name])
                line += f" {old_wall:10.3f}s {old_cpu:9.3f}s {cpu / old_cpu:9.2f}"
            print(line)
        print("  target: pipeline run (no-op) < 0.3 s wall")


if __name__ == "__main__":
    main()
