"""How fast and how lean is `mlops monitor check`, side by side with Evidently?

Data: N rows x C float columns (normal; in the current data every other column is shifted by
0.2 std), written as Parquet here. The version monitored is a registered placeholder file, so
the figures are the statistics alone (no model runs), as in Evidently's DataDriftPreset.

Cases, each its own process (interpreter start and imports included, as a user sees it), timed
wall-clock, with CPU seconds (user + system of the process tree) and peak RSS (summed over the
process tree, sampled every 20 ms):

- `mlops monitor baseline` once, then `mlops monitor check` against it (median of --repeats);
  for 1M x 50 and 1M x 200, and (unless --skip-big) 10M x 50, baseline and check both streamed.
- `mlops monitor check --reference` (exact: both files read, every column sorted) beside the
  check from the stored baseline on the same N x 51 files, run alternately, medians and the
  ratio of each pair (the target: exact within 2.5x the baseline check's time, under 1 GB).
- Evidently 0.7 (`Report([DataDriftPreset()])`) in its own venv (pandas < 3): the project's
  `.venv-peers/evidently` (scripts/peers.sh evidently) when present, else one created under
  ~/.cache/mlops-bench/evidently-venv; on --evidently-rows rows (Evidently takes
  minutes on 1M rows), with `mlops monitor check` (and `--reference`, exact) on the same files.
  Skipped with a note when it cannot be installed.

Usage: python benchmarks/bench_monitor.py [--rows N] [--repeats R] [--evidently-rows N]
                                          [--skip-big] [--skip-evidently] [--only-exact]
                                          [--quick] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_score_batch import run_measured  # noqa: E402 - one measuring helper for every benchmark

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".venv-peers" / "evidently"
EVIDENTLY_VENV = (
    PEER_VENV if PEER_VENV.exists() else Path.home() / ".cache" / "mlops-bench" / "evidently-venv"
)

EVIDENTLY = """
import json, sys, time, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current, reference)
result = snapshot.dict()
print(f"report {time.perf_counter() - start:.2f} s", file=sys.stderr)
if len(sys.argv) > 3:  # the per-column scores, to compare verdicts with mlops
    scores = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            scores[config["column"]] = {"score": float(metric["value"]), "threshold": config["threshold"]}
    with open(sys.argv[3], "w") as out:
        json.dump(scores, out)
"""


# The input alone: the file read in batches the way mlops reads it, and nothing done with it.
READ_ONLY = """
import sys, pyarrow.parquet as pq
parquet = pq.ParquetFile(sys.argv[1], pre_buffer=False, buffer_size=1 << 20)
for batch in parquet.iter_batches(batch_size=65536, use_threads=True):
    pass
"""


def make_data(path: Path, rows: int, columns: int, shifted: bool, seed: int) -> Path:
    """Parquet written in row groups of 1M rows, so 10M rows never sit in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(columns)]
    writer = None
    done = 0
    while done < rows:
        n = min(1_000_000, rows - done)
        table = pa.table(
            {name: rng.normal(0.2 if shifted and i % 2 else 0.0, 1.0, n) for i, name in enumerate(names)}
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        done += n
    assert writer is not None
    writer.close()
    return path


def measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak = run_measured(argv, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak


def median_of(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return (
        statistics.median(r[0] for r in runs),
        statistics.median(r[1] for r in runs),
        max(r[2] for r in runs),
    )


def evidently_python(skip: bool) -> str | None:
    if skip:
        return None
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "evidently==0.7.*", "pandas<3", "pyarrow"],
                check=True,
                timeout=1800,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"note: Evidently skipped, it could not be installed: {exc}")
            shutil.rmtree(EVIDENTLY_VENV, ignore_errors=True)
            return None
    return str(python)


def agreement(python, script, ref, cur, work, project, env, mlops) -> None:
    """Do Evidently and `mlops monitor check` (from the baseline) flag the same columns?"""
    import json

    scores = work / "evidently-scores.json"
    subprocess.run([python, str(script), str(ref), str(cur), str(scores)], check=True, capture_output=True)
    theirs = json.loads(scores.read_text())
    ours = json.loads(
        subprocess.run(
            [*mlops, "monitor", "check", "m", "--data", str(cur), "--json"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    mine = {c["name"]: c for c in ours["columns"]}
    same = sum((theirs[n]["score"] >= theirs[n]["threshold"]) == mine[n]["drift"] for n in theirs)
    worst = max(abs(theirs[n]["score"] - mine[n]["score"]) / max(theirs[n]["score"], 1e-12) for n in theirs)
    print(
        f"Verdicts: the same for {same} of {len(theirs)} columns; largest relative score difference"
        f" {worst:.2%} (mlops from its stored baseline, Evidently from the raw data)"
    )


def exact_beside_baseline(
    work: Path, project: Path, env: dict[str, str], mlops: list[str], rows: int, repeats: int
):
    """`check --reference` and the check from a stored baseline on the same files, alternated."""
    columns = 51
    ref = make_data(work / f"ref-{rows}x{columns}.parquet", rows, columns, False, 0)
    cur = make_data(work / f"cur-{rows}x{columns}.parquet", rows, columns, True, 1)
    measured([*mlops, "monitor", "baseline", "m", "--data", str(ref)], project, env)
    baseline_runs, exact_runs = [], []
    for _ in range(repeats):
        baseline_runs.append(measured([*mlops, "monitor", "check", "m", "--data", str(cur)], project, env))
        exact_runs.append(
            measured(
                [*mlops, "monitor", "check", "m", "--data", str(cur), "--reference", str(ref)], project, env
            )
        )
    ratios = [e[0] / b[0] for b, e in zip(baseline_runs, exact_runs, strict=True)]
    print(f"\nExact beside the stored baseline, {rows:,} x {columns}, alternated, medians of {repeats}:")
    print("| check | wall | CPU s | peak RSS | wall / baseline check (median of pairs) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs, ratio in (
        ("from the stored baseline", baseline_runs, "1x"),
        ("--reference (exact)", exact_runs, f"{statistics.median(ratios):.2f}x (target <= 2.5x, < 1 GB)"),
    ):
        wall, cpu, peak = median_of(runs)
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} | {peak:,.0f} MB | {ratio} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evidently-rows", type=int, default=100_000)
    parser.add_argument("--skip-big", action="store_true", help="skip the 10M x 50 case")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument(
        "--only-exact", action="store_true", help="only --reference beside the baseline check"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the data in this folder")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.evidently_rows, args.skip_big = 50_000, 1, 5_000, True

    work = args.keep or Path(tempfile.mkdtemp(prefix="mlops-bench-monitor-"))
    work.mkdir(parents=True, exist_ok=True)
    project = work / "project"
    if project.exists():
        shutil.rmtree(project)
    project.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_ACTOR": "bench@example.com"}
    env.pop("MLOPS_STORE", None)
    mlops = [sys.executable, "-m", "mlops_cli"]
    subprocess.run([*mlops, "init"], cwd=project, env=env, check=True, capture_output=True)
    (project / "model.bin").write_bytes(os.urandom(64))
    subprocess.run(
        [*mlops, "register", "model.bin", "--name", "m"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )

    print(f"CPU: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}")
    if args.only_exact:
        exact_beside_baseline(work, project, env, mlops, args.rows, args.repeats)
        return
    print("| case | wall (median) | CPU s | peak RSS | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    cases = [(args.rows, 50, "< 2.5 s"), (args.rows, 200, "< 10 s, < 2 GB")]
    if not args.skip_big:
        cases.append((10 * args.rows, 50, "within 2 GB"))
    for rows, columns, target in cases:
        ref = make_data(work / f"ref-{rows}x{columns}.parquet", rows, columns, False, 0)
        cur = make_data(work / f"cur-{rows}x{columns}.parquet", rows, columns, True, 1)
        base = measured([*mlops, "monitor", "baseline", "m", "--data", str(ref)], project, env)
        print(f"| baseline {rows:,} x {columns} | {base[0]:.2f} s | {base[1]:.2f} | {base[2]:,.0f} MB | |")
        repeats = 1 if rows > args.rows else args.repeats
        runs = [
            measured([*mlops, "monitor", "check", "m", "--data", str(cur)], project, env)
            for _ in range(repeats)
        ]
        wall, cpu, peak = median_of(runs)
        print(f"| check {rows:,} x {columns} | {wall:.2f} s | {cpu:.2f} | {peak:,.0f} MB | {target} |")
        floor = measured([sys.executable, "-c", READ_ONLY, str(cur)], project, env)
        print(
            f"| reading the input alone (pyarrow) | {floor[0]:.2f} s | {floor[1]:.2f} | {floor[2]:,.0f} MB |"
            f" check's RSS beyond it: {peak - floor[2]:,.0f} MB |"
        )

    exact_beside_baseline(work, project, env, mlops, args.rows, args.repeats)

    python = evidently_python(args.skip_evidently)
    rows = args.evidently_rows
    ref = make_data(work / f"ref-{rows}x50.parquet", rows, 50, False, 0)
    cur = make_data(work / f"cur-{rows}x50.parquet", rows, 50, True, 1)
    measured([*mlops, "monitor", "baseline", "m", "--data", str(ref)], project, env)
    ours = median_of(
        [
            measured([*mlops, "monitor", "check", "m", "--data", str(cur)], project, env)
            for _ in range(args.repeats)
        ]
    )
    exact = median_of(
        [
            measured(
                [*mlops, "monitor", "check", "m", "--data", str(cur), "--reference", str(ref)], project, env
            )
            for _ in range(args.repeats)
        ]
    )
    print(f"\nSide by side, {rows:,} rows x 50 columns:")
    print("| tool | wall (median) | CPU s | peak RSS | Evidently / this |")
    print("| --- | ---: | ---: | ---: | ---: |")
    if python is None:
        for name, figures in (("mlops check (baseline)", ours), ("mlops check --reference", exact)):
            print(f"| {name} | {figures[0]:.2f} s | {figures[1]:.2f} | {figures[2]:,.0f} MB | |")
        return
    script = work / "evidently_run.py"
    script.write_text(EVIDENTLY)
    evidently = median_of(
        [
            measured([python, str(script), str(ref), str(cur)], work, dict(os.environ))
            for _ in range(args.repeats)
        ]
    )
    agreement(python, script, ref, cur, work, project, env, mlops)
    for name, figures in (
        ("Evidently 0.7 DataDriftPreset", evidently),
        ("mlops check (baseline)", ours),
        ("mlops check --reference", exact),
    ):
        ratio = evidently[0] / figures[0]
        print(f"| {name} | {figures[0]:.2f} s | {figures[1]:.2f} | {figures[2]:,.0f} MB | {ratio:.1f}x |")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
